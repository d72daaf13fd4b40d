"""``cltorch.backends`` (``torch.backends``): PyTorch's backend switches, accepted and stored.

cuDNN, MKL-DNN and MPS do not exist under cltorch; their flags are kept so that programs which
set or read them run unchanged. None of them changes a result today: ``cuda.matmul.allow_tf32``
is stored for the TF32 GEMM path that the kernels issue adds.
"""
from . import cpu, cuda, cudnn, mkldnn, mps, openmp, opt_einsum  # noqa: F401
