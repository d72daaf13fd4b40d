"""``save`` / ``load`` in PyTorch's zip checkpoint format, without executing code on load.

A checkpoint is a zip: ``<name>/data.pkl`` (a pickle of the object, tensors replaced by
``torch._utils._rebuild_tensor_v2`` calls on storages named by key), ``<name>/data/<key>``
(the raw bytes of each storage, little-endian) and ``<name>/version``. Writing the same format
as ``torch.save`` means ``torch.load(weights_only=True)`` reads cltorch checkpoints and cltorch
reads PyTorch's, without importing torch: the unpickler accepts only the handful of globals
that rebuild tensors and containers, so a hostile file cannot run code. Writes go to a
temporary file that replaces the target only when complete.

``load(weights_only=False)`` is PyTorch's explicit, unsafe opt-in for whole objects (a pickled
``nn.Module``): it imports the classes a file names, which runs their code. cltorch writes
its own classes under PyTorch's names (``torch.nn.modules.linear.Linear``) and reads PyTorch's
names as cltorch's, so whole-module checkpoints cross between the two where the classes exist
on both sides. ``add_safe_globals`` / ``safe_globals`` widen the safe loader as in PyTorch.
"""
from __future__ import annotations

import collections
import contextlib
import importlib
import io
import os
import pickle
import tempfile
import zipfile

import numpy as np

from . import dtypes
from .backend import registry
from .nn.parameter import Parameter
from .ops.array import Storage, read_stored
from .tensor import Tensor
from .torch_alias import cltorch_name, torch_name_of

_STORAGE_DTYPES = {"FloatStorage": dtypes.float32, "DoubleStorage": dtypes.float64,
                   "HalfStorage": dtypes.float16, "BFloat16Storage": dtypes.bfloat16,
                   "LongStorage": dtypes.int64, "IntStorage": dtypes.int32,
                   "ShortStorage": dtypes.int16, "CharStorage": dtypes.int8,
                   "ByteStorage": dtypes.uint8, "BoolStorage": dtypes.bool_}
_STORAGE_NAMES = {dt.name: name for name, dt in _STORAGE_DTYPES.items()}


class _Global:
    """A pickled reference to ``module.name`` (written without importing the module)."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle's save_reduce wants a callable; never called here
        raise TypeError(f"{self.module}.{self.name} is a pickled reference only")


_REBUILD_TENSOR = _Global("torch._utils", "_rebuild_tensor_v2")
_REBUILD_PARAMETER = _Global("torch._utils", "_rebuild_parameter")


class _Pickler(pickle._Pickler):
    """Tensors become rebuild calls on persistent storage ids; _Global writes a GLOBAL."""

    def __init__(self, file, storages):
        super().__init__(file, protocol=2)
        self.storages = storages  # id(Storage) -> (key, Storage, dtype)
        self.dispatch = dict(self.dispatch)
        self.dispatch[_Global] = _Pickler.save_marker
        self.dispatch[Tensor] = _Pickler.save_tensor
        self.dispatch[Parameter] = _Pickler.save_tensor
        self.dispatch[dtypes.dtype] = _Pickler.save_dtype

    def save_global(self, obj, name=None):
        """cltorch's classes and functions are written under PyTorch's module paths."""
        module = getattr(obj, "__module__", None) or ""
        if not module.startswith("cltorch"):
            return super().save_global(obj, name)
        qualname = name or obj.__qualname__
        home = "torch.nn.functional" if module.startswith("cltorch.nn.functional") else \
            torch_name_of(module, qualname)
        self.write(pickle.GLOBAL + f"{home}\n{qualname}\n".encode())
        self.memoize(obj)

    def save_dtype(self, obj):
        self.write(pickle.GLOBAL + f"torch\n{obj.name}\n".encode())
        self.memoize(obj)

    def save_marker(self, obj):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        self.memoize(obj)

    def save_tensor(self, obj):
        if obj.grad_fn is not None:
            raise RuntimeError("cltorch.save: can only save tensors that are graph leaves "
                               "(use .detach())")
        key = self._storage_key(obj)
        args = (_StorageRef(key, obj), obj._offset, tuple(obj._shape), tuple(obj._strides),
                obj._requires_grad and not isinstance(obj, Parameter),
                collections.OrderedDict())
        if isinstance(obj, Parameter):
            inner = (_REBUILD_TENSOR, args)
            self.save_reduce(_REBUILD_PARAMETER, (_Reduced(*inner), obj._requires_grad,
                                                  collections.OrderedDict()), obj=obj)
        else:
            self.save_reduce(_REBUILD_TENSOR, args, obj=obj)

    def _storage_key(self, t):
        entry = self.storages.get(id(t._storage))
        if entry is None:
            entry = self.storages[id(t._storage)] = (str(len(self.storages)), t)
        elif entry[1].dtype is not t.dtype:
            raise RuntimeError("cltorch.save: views of one storage with different dtypes")
        return entry[0]

    def persistent_id(self, obj):
        if isinstance(obj, _StorageRef):
            name = _STORAGE_NAMES[obj.tensor.dtype.name]
            numel = obj.tensor._storage.nbytes // obj.tensor.dtype.itemsize
            return ("storage", _Global("torch", name), obj.key, _location(obj.tensor), numel)
        return None


def _location(t) -> str:
    """Where PyTorch would say the storage lives: ``cuda:N`` for an accelerator, else cpu."""
    device = t.device
    return str(device) if device.type == "cuda" else "cpu"


class _StorageRef:
    def __init__(self, key, tensor):
        self.key, self.tensor = key, tensor


class _Reduced:
    """A nested reduce (the tensor inside a Parameter)."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _whole_storage(t) -> bytes:
    """Every byte of ``t``'s storage (views of it share one copy in the file)."""
    n = t._storage.nbytes // t.dtype.itemsize
    flat = Tensor._make(t._storage, (n,), (1,), 0, t.dtype)
    return read_stored(flat).tobytes()


def save(obj, f, pickle_module=None, pickle_protocol=2, _use_new_zipfile_serialization=True):
    """Write ``obj`` (tensors, state dicts, optimizer states, nested containers of numbers,
    strings, lists, tuples and dicts) to the path or file ``f``."""
    buffer = io.BytesIO()
    storages = {}
    _Pickler(buffer, storages).dump(obj)
    name = "archive"
    if isinstance(f, (str, os.PathLike)):
        name = os.path.splitext(os.path.basename(os.fspath(f)))[0] or "archive"
        directory = os.path.dirname(os.path.abspath(os.fspath(f)))
        handle, temporary = tempfile.mkstemp(prefix=".cltorch-save-", dir=directory)
        try:
            with os.fdopen(handle, "wb") as out:
                _write_zip(out, name, buffer.getvalue(), storages)
            os.replace(temporary, os.fspath(f))  # atomic: the old file stays until now
        except BaseException:
            os.unlink(temporary)
            raise
    else:
        _write_zip(f, name, buffer.getvalue(), storages)


def _write_zip(out, name, pickled, storages):
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{name}/data.pkl", pickled)
        archive.writestr(f"{name}/byteorder", "little")
        for key, tensor in storages.values():
            archive.writestr(f"{name}/data/{key}", _whole_storage(tensor))
        archive.writestr(f"{name}/version", "3\n")


_safe_globals = {}  # (module, name) -> object, from add_safe_globals


def _global_key(entry) -> tuple:
    if isinstance(entry, tuple):  # (object, "module.name") as PyTorch allows
        obj, full = entry
        module, _, name = full.rpartition(".")
        return (module, name), obj
    return (entry.__module__, getattr(entry, "__qualname__", entry.__name__)), entry


def add_safe_globals(safe_globals: list) -> None:
    """Let ``load(weights_only=True)`` accept these classes and functions (or
    ``(object, "module.name")`` pairs) in addition to tensors and plain containers."""
    for entry in safe_globals:
        key, obj = _global_key(entry)
        _safe_globals[key] = obj


def get_safe_globals() -> list:
    return list(_safe_globals.values())


def clear_safe_globals() -> None:
    _safe_globals.clear()


@contextlib.contextmanager
def safe_globals(safe_globals: list):
    """``with safe_globals([...]):`` the globals are accepted inside the block only."""
    saved = dict(_safe_globals)
    add_safe_globals(safe_globals)
    try:
        yield
    finally:
        _safe_globals.clear()
        _safe_globals.update(saved)


class _Unpickler(pickle.Unpickler):
    """Accepts only what rebuilds tensors, plain containers and the added safe globals;
    anything else is refused."""

    def __init__(self, file, archive, prefix, place):
        super().__init__(file)
        self.archive, self.prefix, self.place = archive, prefix, place
        self.storages = {}

    def find_class(self, module, name):
        allowed = {("collections", "OrderedDict"): collections.OrderedDict,
                   ("torch._utils", "_rebuild_tensor_v2"): self._rebuild_tensor,
                   ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
                   ("builtins", "set"): set, ("builtins", "frozenset"): frozenset,
                   ("builtins", "slice"): slice,
                   ("_codecs", "encode"): _encode}  # bytes in protocol-2 pickles
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if module == "torch" and name in dtypes.BY_NAME:
            return dtypes.BY_NAME[name]
        if (module, name) in allowed:
            return allowed[(module, name)]
        if (module, name) in _safe_globals:
            return _safe_globals[(module, name)]
        return self.refuse(module, name)

    def refuse(self, module, name):
        raise pickle.UnpicklingError(
            f"refusing to load global '{module}.{name}': with weights_only=True a checkpoint "
            f"may only hold tensors, plain containers and the globals given to "
            f"torch.serialization.add_safe_globals (weights_only=False loads whole objects "
            f"and runs their code: only for files you trust)")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        _, dtype, key, location, numel = pid
        if not isinstance(dtype, dtypes.dtype) or not isinstance(numel, int) or numel < 0 or \
                not isinstance(location, str):
            raise pickle.UnpicklingError(f"malformed storage record {pid!r}")
        if key not in self.storages:
            raw = self.archive.read(f"{self.prefix}data/{key}")
            if len(raw) != numel * dtype.itemsize:
                raise pickle.UnpicklingError(f"storage {key} holds {len(raw)} bytes, expected "
                                             f"{numel * dtype.itemsize}")
            stored = np.frombuffer(raw, dtype=dtype.storage_np).copy()
            device = registry.get(self.place(location))
            self.storages[key] = (Storage(device, device.upload(stored) if stored.nbytes
                                          else None, stored.nbytes), dtype, numel)
        return self.storages[key]

    @staticmethod
    def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None,
                        metadata=None):
        store, dtype, numel = storage
        size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
        if any(s < 0 for s in size) or any(s < 0 for s in stride) or offset < 0:
            raise pickle.UnpicklingError("negative size, stride or offset in a tensor record")
        last = offset + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else offset
        if all(size) and last >= numel:
            raise pickle.UnpicklingError(f"tensor record reaches element {last} of a storage "
                                         f"of {numel}")
        t = Tensor._make(store, size, stride, int(offset), dtype)
        t._requires_grad = bool(requires_grad) and dtype.is_floating_point
        return t


def _encode(text, encoding="utf-8"):
    """``_codecs.encode`` as protocol-2 pickles use it for bytes (str -> bytes only)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise pickle.UnpicklingError("_codecs.encode: only str to bytes is accepted")
    return text.encode(encoding)


class _FullUnpickler(_Unpickler):
    """``weights_only=False``: any global, PyTorch's own names read as cltorch's."""

    def refuse(self, module, name):
        if module == "torch" or module.startswith("torch."):
            target = importlib.import_module(cltorch_name(module))
            for part in name.split("."):
                target = getattr(target, part)
            return target
        return pickle.Unpickler.find_class(self, module, name)


def _rebuild_parameter(data, requires_grad, hooks=None):
    return Parameter(data, requires_grad)


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None, **kwargs):
    """Read an object written by ``save`` or by ``torch.save`` (zip format).

    Tensors go where they were saved (``cpu``, ``cuda:N``), or where ``map_location`` says: a
    device or string, a dict from saved to new locations, or PyTorch's callable
    ``fn(storage, location)``. With ``weights_only=True`` (the default) only tensors,
    parameters, plain containers and the added safe globals are accepted; ``False`` loads
    whole pickled objects, which runs code named by the file: use it only for files you trust.
    """
    if weights_only is None:
        weights_only = True
    place = _placement(map_location)
    try:
        archive = zipfile.ZipFile(f if not isinstance(f, (str, os.PathLike)) else os.fspath(f))
    except zipfile.BadZipFile as error:
        raise RuntimeError(f"cltorch.load: not a checkpoint (expected the zip format of "
                           f"torch.save / cltorch.save): {error}") from None
    with archive:
        pickles = [n for n in archive.namelist() if n.endswith("data.pkl")]
        if len(pickles) != 1:
            raise RuntimeError("cltorch.load: the archive has no single data.pkl record")
        prefix = pickles[0][:-len("data.pkl")]
        try:
            data = archive.read(pickles[0])
            unpickler = _Unpickler if weights_only else _FullUnpickler
            return unpickler(io.BytesIO(data), archive, prefix, place).load()
        except (pickle.UnpicklingError, KeyError, EOFError, ValueError, TypeError,
                zipfile.BadZipFile, AttributeError, IndexError) as error:
            raise RuntimeError(f"cltorch.load: corrupted or unsupported checkpoint: "
                               f"{error}") from None


def _placement(map_location):
    """A function from a saved location (``cpu``, ``cuda:0``) to the device to load onto."""
    if map_location is None:
        return _restore_location
    if isinstance(map_location, (str, registry.device, int)):
        target = str(registry.device(map_location))
        return lambda location: target
    if isinstance(map_location, dict):
        return lambda location: _restore_location(str(map_location.get(location, location)))
    if callable(map_location):
        return lambda location: _called_location(map_location, location)
    raise TypeError("map_location should be a string, a device, a dict or a callable")


def _restore_location(location: str) -> str:
    if location.startswith("cuda"):
        from . import cuda
        if not cuda.is_available():
            raise RuntimeError("Attempting to deserialize object on a CUDA device but "
                               "torch.cuda.is_available() is False. If you are running on a "
                               "CPU-only machine, please use torch.load with "
                               "map_location=torch.device('cpu') to map your storages to the "
                               "CPU.")
    return location


class _StorageProxy:
    """What a ``map_location`` callable receives: a storage, deserialised on the cpu, whose
    moves (``cuda``, ``cpu``, ``to``) say where it should go."""

    def __init__(self, device="cpu"):
        self.device = registry.device(device)

    def cuda(self, device=None, non_blocking=False):
        return _StorageProxy("cuda" if device is None else registry.device(
            device if not isinstance(device, int) else f"cuda:{device}"))

    def cpu(self):
        return _StorageProxy("cpu")

    def to(self, device, non_blocking=False):
        return _StorageProxy(device)


def _called_location(fn, location: str) -> str:
    result = fn(_StorageProxy(), location)
    if result is None:
        return _restore_location(location)
    if not isinstance(result, _StorageProxy):
        raise TypeError("map_location callable must return the storage it was given (moved "
                        "with .cuda(), .cpu() or .to()) or None")
    return str(result.device)
