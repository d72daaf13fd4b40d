"""``cltorch.onnx`` (``torch.onnx``): importable; ONNX export is out of cltorch's scope."""


def export(*args, **kwargs):
    raise NotImplementedError("torch.onnx.export is not supported by cltorch: ONNX export "
                              "traces PyTorch's own graph format, which cltorch does not have")


def is_in_onnx_export() -> bool:
    return False
