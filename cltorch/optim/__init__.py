"""``cltorch.optim``: optimizers whose updates run as one fused kernel per parameter."""
from .adam import Adam, Adamax, AdamW, NAdam, RAdam
from .lbfgs import LBFGS
from .optimizer import Optimizer
from .others import ASGD, Adadelta, Adagrad, RMSprop, Rprop
from .sgd import SGD
from . import lr_scheduler
