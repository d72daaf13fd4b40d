"""``torch.backends.cuda``: matmul precision and attention switches, accepted and stored."""


class _MatmulFlags:
    allow_tf32 = False
    allow_fp16_reduced_precision_reduction = True
    allow_bf16_reduced_precision_reduction = True


matmul = _MatmulFlags()


def is_built() -> bool:
    """True: cltorch can always drive an NVIDIA GPU (through CUDA or OpenCL) when one is
    present; ``torch.cuda.is_available()`` says whether there is one."""
    return True


def flash_sdp_enabled() -> bool:
    return False


def mem_efficient_sdp_enabled() -> bool:
    return False


def math_sdp_enabled() -> bool:
    return True


def enable_flash_sdp(enabled: bool) -> None:
    """Accepted; cltorch's attention is the math form."""


enable_mem_efficient_sdp = enable_math_sdp = enable_cudnn_sdp = enable_flash_sdp


def sdp_kernel(*args, **kwargs):
    """Context manager accepted for compatibility; attention runs the math form."""
    import contextlib
    return contextlib.nullcontext()
