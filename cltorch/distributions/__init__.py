"""``cltorch.distributions`` (``torch.distributions``): Normal, Uniform, Bernoulli,
Categorical, OneHotCategorical, Independent and ``kl_divergence`` between them, with
PyTorch's shapes, formulas and argument checks. Samples come from cltorch's Philox generator
(the same on every device, not PyTorch's numbers)."""
from . import kl  # noqa: F401
from .bernoulli import Bernoulli
from .categorical import Categorical, OneHotCategorical
from .distribution import Distribution
from .independent import Independent
from .kl import kl_divergence, register_kl
from .normal import Normal
from .uniform import Uniform

__all__ = ["Bernoulli", "Categorical", "Distribution", "Independent", "Normal",
           "OneHotCategorical", "Uniform", "kl_divergence", "register_kl"]
