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
import ctypes
import importlib
import io
import math
import os
import pickle
import zipfile

import numpy as np

from . import dtypes
from .backend import OutOfMemoryError, registry
from .nn.parameter import Parameter
from .ops.array import Storage
from .ops.pointwise import read_stored
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
        _atomic_write(os.fspath(f), lambda out: _write_zip(out, name, buffer.getvalue(),
                                                           storages))
    else:
        _write_zip(f, name, buffer.getvalue(), storages)


def _atomic_write(path: str, write) -> None:
    """``write(file)`` into a file that replaces ``path`` only when complete, with the
    permissions a plain ``open`` would give (0666 less the umask, as PyTorch's files).

    On Linux the data goes to an unnamed file (O_TMPFILE) that is linked in only at the end,
    so a process killed while writing leaves nothing behind. Elsewhere a named temporary
    carries the writer's pid, and the next save of the same target removes those of dead
    processes.
    """
    directory = os.path.dirname(os.path.abspath(path))
    mode = 0o666 & ~_umask()
    _remove_stale_temporaries(path)
    temporary = _temporary_name(path)
    try:
        fd = _unnamed_file(directory, mode)
        linked = False
        if fd is not None:
            with os.fdopen(fd, "wb") as out:
                write(out)
                out.flush()
                linked = _link_unnamed(out.fileno(), temporary)
        if not linked:
            with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode),
                           "wb") as out:
                write(out)
        os.replace(temporary, path)  # atomic: the old file stays until now
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _unnamed_file(directory: str, mode: int):
    """A descriptor of an unnamed file in ``directory``, or None where the platform or the
    file system has none."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.exists("/proc/self/fd"):
        return None
    try:
        return os.open(directory, flag | os.O_WRONLY, mode)
    except OSError:
        return None


def _link_unnamed(fd: int, name: str) -> bool:
    """Give the unnamed file ``fd`` the name ``name`` (Linux linkat with AT_SYMLINK_FOLLOW
    through /proc: Python's os.link does not follow that link). False where it cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        at_fdcwd, at_symlink_follow = -100, 0x400
        done = libc.linkat(at_fdcwd, f"/proc/self/fd/{fd}".encode(), at_fdcwd,
                           os.fsencode(name), at_symlink_follow)
        return done == 0
    except (OSError, AttributeError):
        return False


def _temporary_name(path: str) -> str:
    folder, base = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{base}.cltorch-{os.getpid()}-{os.urandom(4).hex()}.tmp")


def _remove_stale_temporaries(path: str) -> None:
    """Remove the temporaries an earlier, killed save of ``path`` left behind."""
    folder, base = os.path.split(os.path.abspath(path))
    prefix = f".{base}.cltorch-"
    try:
        names = [n for n in os.listdir(folder) if n.startswith(prefix) and n.endswith(".tmp")]
    except OSError:
        return
    for name in names:
        pid = name[len(prefix):].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _umask() -> int:
    """The process umask, read without changing it where /proc says it."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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


class _Unpickler(pickle._Unpickler):
    """Accepts only what rebuilds tensors, plain containers and the added safe globals;
    anything else is refused.

    Built on pickle's Python unpickler so that BUILD can be checked: it may only set state on
    an OrderedDict (a state dict's ``_metadata``) or on an instance of a class given to
    ``add_safe_globals``, never on a global (a dtype, a class, a function), a tensor or
    anything that outlives the load. A file therefore cannot change process-wide state.
    """

    def __init__(self, file, archive, prefix, place):
        super().__init__(file)
        self.archive, self.prefix, self.place = archive, prefix, place
        self.storages = {}

    def load_build(self):
        inst, state = self.stack[-2], self.stack[-1]
        if type(inst) is collections.OrderedDict:
            if not (isinstance(state, dict) and
                    all(isinstance(k, str) and not k.startswith("__") for k in state)):
                raise pickle.UnpicklingError("an OrderedDict may only be given plain "
                                             "attributes (a state dict's _metadata)")
        elif type(inst) not in {v for v in _safe_globals.values() if isinstance(v, type)}:
            raise pickle.UnpicklingError(
                f"Can only build OrderedDict or types allowlisted via add_safe_globals, but "
                f"got {type(inst)}")
        pickle._Unpickler.load_build(self)

    dispatch = dict(pickle._Unpickler.dispatch)
    dispatch[pickle.BUILD[0]] = load_build

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
            record = self.archive.getinfo(f"{self.prefix}data/{key}")
            if record.file_size != numel * dtype.itemsize:  # checked before reading anything
                raise pickle.UnpicklingError(f"storage {key} holds {record.file_size} bytes, "
                                             f"expected {numel * dtype.itemsize}")
            raw = self.archive.read(record)
            stored = np.frombuffer(raw, dtype=dtype.storage_np).copy()
            device = registry.get(self.place(location))
            self.storages[key] = (Storage(device, device.upload(stored) if stored.nbytes
                                          else None, stored.nbytes), dtype, numel)
        return self.storages[key]

    @staticmethod
    def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None,
                        metadata=None):
        if not (isinstance(storage, tuple) and len(storage) == 3):
            raise pickle.UnpicklingError("a tensor record must name a storage of the file")
        store, dtype, numel = storage
        values = [offset, *size, *stride] if isinstance(size, (tuple, list)) and \
            isinstance(stride, (tuple, list)) else None
        if values is None or len(size) != len(stride) or \
                any(type(v) is not int for v in values):
            raise pickle.UnpicklingError("a tensor record's size, stride and offset must be "
                                         "integers, one stride per dim")
        size, stride = tuple(size), tuple(stride)
        if any(s < 0 for s in size) or any(s < 0 for s in stride) or offset < 0:
            raise pickle.UnpicklingError("negative size, stride or offset in a tensor record")
        if math.prod(size) >= 2 ** 62:
            raise pickle.UnpicklingError(f"tensor record of {size} elements overflows")
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
        return pickle._Unpickler.find_class(self, module, name)

    dispatch = dict(pickle._Unpickler.dispatch)  # any BUILD: the caller trusts the file


def _rebuild_parameter(data, requires_grad, hooks=None):
    if not isinstance(data, Tensor):
        raise pickle.UnpicklingError("a parameter record must hold a tensor")
    return Parameter(data, bool(requires_grad))


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
        # A weights-only load reads untrusted bytes: whatever goes wrong in them (a flipped
        # byte can raise almost any exception inside the unpickler) is a bad file.
        expected = Exception if weights_only else (
            pickle.UnpicklingError, KeyError, EOFError, ValueError, TypeError,
            zipfile.BadZipFile, AttributeError, IndexError)
        try:
            data = archive.read(pickles[0])
            unpickler = _Unpickler if weights_only else _FullUnpickler
            return unpickler(io.BytesIO(data), archive, prefix, place).load()
        except OutOfMemoryError:
            raise
        except expected as error:
            raise RuntimeError(f"cltorch.load: corrupted or unsupported checkpoint: "
                               f"{type(error).__name__}: {error}") from None


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
