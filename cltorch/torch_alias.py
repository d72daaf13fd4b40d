"""``import torch`` resolving to cltorch: ``install_as_torch()`` and the module-path table.

A meta-path finder answers every ``torch`` and ``torch.*`` import with the cltorch module that
stands for it, so ``torch.nn`` *is* ``cltorch.nn`` (one set of classes, never a second copy
made from the same files). PyTorch's own module paths that cltorch lays out differently
(``torch.nn.modules.dropout``...) are listed in ``ALIASES``; any other ``torch.X.Y`` is
``cltorch.X.Y``. Nothing is installed until ``install_as_torch()`` is called (``cltorch run``
calls it), so a real PyTorch beside cltorch is never shadowed otherwise.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys

# PyTorch module path -> the cltorch module holding its names.
ALIASES = {
    "torch.nn.modules.dropout": "cltorch.nn.modules.misc",
    "torch.nn.modules.sparse": "cltorch.nn.modules.misc",
    "torch.nn.modules.padding": "cltorch.nn.modules.misc",
    "torch.nn.modules.pixelshuffle": "cltorch.nn.modules.misc",
    "torch.nn.modules.upsampling": "cltorch.nn.modules.misc",
    "torch.nn.modules.channelshuffle": "cltorch.nn.modules.misc",
    "torch.nn.modules.adaptive": "cltorch.nn.modules.misc",
    "torch.nn.modules.lazy": "cltorch.nn.modules.misc",
    "torch.nn.modules.batchnorm": "cltorch.nn.modules.normalization",
    "torch.nn.modules.instancenorm": "cltorch.nn.modules.normalization",
    "torch.nn.modules.flatten": "cltorch.nn.modules.linear",
    "torch.nn.utils.clip_grad": "cltorch.nn.utils.clip_grad",
    "torch.nn.parameter": "cltorch.nn.parameter",
    "torch.utils.data.dataloader": "cltorch.utils.data.dataloader",
    "torch.utils.data.dataset": "cltorch.utils.data.dataset",
    "torch.utils.data.sampler": "cltorch.utils.data.sampler",
    "torch.optim.adamw": "cltorch.optim.adam",
    "torch.optim.adamax": "cltorch.optim.adam",
    "torch.optim.nadam": "cltorch.optim.adam",
    "torch.optim.radam": "cltorch.optim.adam",
    "torch.optim.adadelta": "cltorch.optim.others",
    "torch.optim.adagrad": "cltorch.optim.others",
    "torch.optim.asgd": "cltorch.optim.others",
    "torch.optim.rmsprop": "cltorch.optim.others",
    "torch.optim.rprop": "cltorch.optim.others",
    "torch.cuda.amp": "cltorch.cuda.amp",
    "torch.amp.grad_scaler": "cltorch.amp",
    "torch.amp.autocast_mode": "cltorch.amp",
}


# Classes whose PyTorch module is not the mirror of their cltorch module: where pickles of
# whole objects name them, so that PyTorch finds them (the rest: cltorch.X -> torch.X).
_PICKLE_HOMES = {
    "torch.nn.modules.flatten": ("Flatten", "Unflatten"),
    "torch.nn.modules.dropout": ("AlphaDropout", "Dropout", "Dropout1d", "Dropout2d",
                                 "Dropout3d", "FeatureAlphaDropout"),
    "torch.nn.modules.padding": ("CircularPad1d", "CircularPad2d", "ConstantPad1d",
                                 "ConstantPad2d", "ReflectionPad1d", "ReflectionPad2d",
                                 "ReplicationPad1d", "ReplicationPad2d", "ZeroPad1d",
                                 "ZeroPad2d"),
    "torch.nn.modules.pixelshuffle": ("PixelShuffle", "PixelUnshuffle"),
    "torch.nn.modules.sparse": ("Embedding", "EmbeddingBag"),
    "torch.nn.modules.upsampling": ("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"),
    "torch.nn.modules.channelshuffle": ("ChannelShuffle",),
    "torch.nn.modules.batchnorm": ("BatchNorm1d", "BatchNorm2d", "_BatchNorm", "_NormBase"),
    "torch.nn.modules.instancenorm": ("InstanceNorm1d", "InstanceNorm2d", "_InstanceNorm"),
    "torch.optim.adamax": ("Adamax",), "torch.optim.adamw": ("AdamW",),
    "torch.optim.nadam": ("NAdam",), "torch.optim.radam": ("RAdam",),
    "torch.optim.adadelta": ("Adadelta",), "torch.optim.adagrad": ("Adagrad",),
    "torch.optim.asgd": ("ASGD",), "torch.optim.rmsprop": ("RMSprop",),
    "torch.optim.rprop": ("Rprop",),
}
_HOME_OF = {(ALIASES[home], name): home for home, names in _PICKLE_HOMES.items()
            for name in names}


def cltorch_name(torch_name: str) -> str:
    """The cltorch module that stands for the PyTorch module ``torch_name``."""
    return ALIASES.get(torch_name) or "cltorch" + torch_name[len("torch"):]


def torch_name_of(cltorch_module: str, name: str) -> str:
    """The PyTorch module path under which the cltorch global ``cltorch_module.name`` is
    pickled."""
    return _HOME_OF.get((cltorch_module, name)) or "torch" + cltorch_module[len("cltorch"):]


class _Loader(importlib.abc.Loader):
    """Hands the import system the cltorch module that is already imported."""

    def __init__(self, module):
        self.module = module

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        pass


class TorchFinder(importlib.abc.MetaPathFinder):
    """Finds ``torch`` and ``torch.*`` as their cltorch modules."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "torch" and not fullname.startswith("torch."):
            return None
        try:
            module = importlib.import_module(cltorch_name(fullname))
        except ModuleNotFoundError as error:
            if error.name and error.name.startswith("cltorch"):
                raise ModuleNotFoundError(
                    f"No module named '{fullname}': cltorch has no counterpart of this PyTorch "
                    f"module", name=fullname) from None
            raise
        spec = importlib.machinery.ModuleSpec(fullname, _Loader(module),
                                              is_package=hasattr(module, "__path__"))
        return spec


_finder = TorchFinder()
_stashed = {}  # a real torch's modules, set aside while cltorch stands in for it


def install_as_torch() -> None:
    """Make ``import torch`` (and every ``torch.*``) resolve to cltorch in this process.

    For notebooks and tests; ``cltorch run script.py`` calls it before running the script.
    Accelerators then report themselves as ``cuda:N`` (see ``cltorch.cuda``). A real ``torch``
    imported earlier in the process is replaced in ``sys.modules``.
    """
    from .backend import registry
    # The package this module belongs to (always loaded before its modules): no import, so
    # that this module sits below the package's __init__.
    package = sys.modules[__name__.rpartition(".")[0]]
    for name in [n for n in sys.modules if n == "torch" or n.startswith("torch.")]:
        if not getattr(sys.modules[name], "__name__", "").startswith("cltorch"):
            _stashed[name] = sys.modules.pop(name)
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
    sys.modules["torch"] = package
    registry.torch_names[0] = True


def uninstall_as_torch() -> None:
    """Undo ``install_as_torch``: ``import torch`` finds the real PyTorch again, if any."""
    from .backend import registry
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    for name in [n for n in sys.modules if n == "torch" or n.startswith("torch.")]:
        if getattr(sys.modules[name], "__name__", "").startswith("cltorch"):
            del sys.modules[name]
    sys.modules.update(_stashed)
    _stashed.clear()
    registry.torch_names[0] = False
