"""``cltorch.optim``: optimizers whose updates run as fused kernels, one per 16 parameters
that share dtypes and hyper-parameters (PyTorch's foreach)."""
from .adam import Adam, Adamax, AdamW, NAdam, RAdam
from .lbfgs import LBFGS
from .optimizer import Optimizer
from .others import ASGD, Adadelta, Adagrad, RMSprop, Rprop
from .sgd import SGD
from . import lr_scheduler
