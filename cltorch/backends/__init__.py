"""``cltorch.backends`` (``torch.backends``): PyTorch's backend switches, accepted and stored.

cuDNN, MKL-DNN and MPS do not exist under cltorch; their flags are kept so that programs which
set or read them run unchanged. ``cuda.matmul.allow_tf32`` is read by the GEMM (the kernels
issue adds the TF32 path); the others change nothing.
"""
from . import cpu, cuda, cudnn, mkldnn, mps, openmp, opt_einsum  # noqa: F401
