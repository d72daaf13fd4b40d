"""``torch.version``: cltorch's version; no CUDA toolkit or ROCm is part of cltorch."""
from .config import VERSION as __version__  # noqa: F401

cuda = None      # cltorch compiles CUDA kernels with NVRTC at run time, not with a toolkit
hip = None
git_version = "unknown"
debug = False
