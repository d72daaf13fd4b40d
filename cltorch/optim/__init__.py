"""``cltorch.optim``: optimizers whose updates run as one fused kernel per parameter."""
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .others import Adagrad, RMSprop
from .sgd import SGD
