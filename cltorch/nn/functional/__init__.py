"""``cltorch.nn.functional``: the functional form of every layer and loss."""
from .activation import ACTIVATIONS
from .conv import CONV
from .loss import LOSSES
from .padding import pad
from .layers import LAYERS

globals().update(ACTIVATIONS)
globals().update(CONV)
globals().update(LOSSES)
globals().update(LAYERS)
