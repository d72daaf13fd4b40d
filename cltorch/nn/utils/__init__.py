"""``nn.utils``: gradient clipping, parameters as one vector, ``rnn`` sequence packing,
``parametrize`` / ``parametrizations`` and the older ``weight_norm``."""
from . import parametrizations, parametrize, rnn
from .clip_grad import clip_grad_norm_, clip_grad_value_
from .convert_parameters import parameters_to_vector, vector_to_parameters
from .weight_norm import remove_weight_norm, weight_norm
