"""``import torch`` under ``cltorch run``: becomes cltorch (see ``cltorch.torch_alias``)."""
import cltorch

cltorch.install_as_torch()  # replaces this module in sys.modules with cltorch
