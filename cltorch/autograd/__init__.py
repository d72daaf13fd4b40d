"""Autograd: the recorded graph, the backward engine, grad modes, custom Functions,
gradcheck and the functional API, with PyTorch's names and semantics."""
from .anomaly_mode import detect_anomaly, set_detect_anomaly
from .engine import backward, grad
from .grad_mode import (enable_grad, inference_mode, is_grad_enabled, no_grad,
                        set_grad_enabled)
from . import graph
