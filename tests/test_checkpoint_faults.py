"""Hostile and damaged checkpoints, and saves killed half-way (issue 11): loading is data,
never behaviour; nothing global changes; sizes are checked before anything is read; a killed
save leaves the old file and no temporary behind."""
import collections
import io
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zipfile

import pytest

import cltorch
from cltorch import dtypes, serialization


def _unicode(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _pickle(body: bytes) -> bytes:
    return b"\x80\x02" + body + b"."


def _archive(pickled, storages=None, compress=False):
    buffer = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buffer, "w", method) as z:
        z.writestr("x/data.pkl", pickled)
        for key, raw in (storages or {}).items():
            z.writestr(f"x/data/{key}", raw)
    buffer.seek(0)
    return buffer


def _global_state():
    """What a hostile file might try to change: every dtype, OrderedDict, the allow list."""
    return ([(d.name, d.itemsize, d.storage_np, d.category, d.legacy_name) for d in dtypes.ALL],
            sorted(vars(collections.OrderedDict)), dict(serialization._safe_globals),
            sorted(vars(cltorch.Tensor)))


def _build_on(target: bytes, key: str, value: str = "hacked") -> bytes:
    return _pickle(target + b"}(" + _unicode(key) + _unicode(value) + b"ub")


HOSTILE = {
    "BUILD on a dtype": _build_on(b"ctorch\nfloat32\n", "name"),
    "BUILD on OrderedDict the class": _build_on(b"ccollections\nOrderedDict\n", "__repr__"),
    "BUILD on a rebuild function": _build_on(b"ctorch._utils\n_rebuild_parameter\n",
                                             "__defaults__"),
    "BUILD of a dunder on an OrderedDict": _build_on(b"ccollections\nOrderedDict\n)R",
                                                     "__class__"),
    "SETITEMS into a dtype": _pickle(b"ctorch\nfloat32\n(" + _unicode("name") +
                                     _unicode("x") + b"u"),
    "os.system": _pickle(b"cos\nsystem\n" + _unicode("echo owned") + b"\x85R"),
    "builtins.eval": _pickle(b"cbuiltins\neval\n" + _unicode("1+1") + b"\x85R"),
    "builtins.getattr": _pickle(b"cbuiltins\ngetattr\n"),
    "importlib": _pickle(b"cimportlib\nimport_module\n" + _unicode("os") + b"\x85R"),
    "a parameter that is no tensor": _pickle(b"ctorch._utils\n_rebuild_parameter\n" +
                                             _unicode("x") + b"\x88}\x87R"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_pickles_raise_and_change_nothing(name):
    before = _global_state()
    with pytest.raises(RuntimeError, match="cltorch.load"):
        cltorch.load(_archive(HOSTILE[name]))
    assert _global_state() == before
    assert dtypes.float32.name == "float32"


def test_state_dict_metadata_still_loads(tmp_path):
    model = cltorch.nn.Sequential(cltorch.nn.Linear(2, 2))
    path = tmp_path / "sd.pt"
    cltorch.save(model.state_dict(), path)
    loaded = cltorch.load(path)
    assert list(loaded) == ["0.weight", "0.bias"]


def _tensor_record(numel_declared, size, stride, offset):
    """A pickle of one float tensor over storage "0" with the given record fields."""
    def tup(values):
        return b"(" + b"".join(b"J" + struct.pack("<i", v) for v in values) + b"t"
    storage = (b"(" + _unicode("storage") + b"ctorch\nFloatStorage\n" + _unicode("0") +
               _unicode("cpu") + b"J" + struct.pack("<i", numel_declared) + b"tQ")
    offset_op = b"G" + struct.pack(">d", offset) if isinstance(offset, float) else \
        b"J" + struct.pack("<i", offset)
    return _pickle(b"ctorch._utils\n_rebuild_tensor_v2\n(" + storage + offset_op + tup(size) +
                   tup(stride) + b"\x89ccollections\nOrderedDict\n)RtR")


def test_a_sound_hand_made_record_loads():
    t = cltorch.load(_archive(_tensor_record(4, (2, 2), (2, 1), 0), {"0": b"\0" * 16}))
    assert t.tolist() == [[0.0, 0.0], [0.0, 0.0]]


@pytest.mark.parametrize("record,storage,message", [
    ((10 ** 9, (4,), (1,), 0), b"\0" * 16, "holds 16 bytes, expected 4000000000"),
    ((4, (2, 2), (2, 1), 1.5), b"\0" * 16, "must be integers"),
    ((4, (1 << 31 - 1, 1 << 31 - 1, 1 << 31 - 1), (0, 0, 0), 0), b"\0" * 16, "overflows"),
    ((4, (2, 3), (1,), 0), b"\0" * 16, "one stride per dim"),
    ((4, (5,), (1,), 0), b"\0" * 16, "reaches element 4"),
    ((4, (2,), (1,), -1), b"\0" * 16, "negative"),
], ids=["declared size", "float offset", "overflow", "stride count", "past the end",
        "negative offset"])
def test_records_are_checked_before_anything_is_allocated(record, storage, message):
    with pytest.raises(RuntimeError, match=message):
        cltorch.load(_archive(_tensor_record(*record), {"0": storage}))


def test_zip_bomb_is_refused_before_decompressing():
    """A compressed member that would expand to 256 MiB, declared as a 4-element storage."""
    bomb = _archive(_tensor_record(4, (4,), (1,), 0), {"0": b"\0" * (1 << 28)}, compress=True)
    assert len(bomb.getvalue()) < 1 << 20
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="holds 268435456 bytes, expected 16"):
        cltorch.load(bomb)
    assert time.perf_counter() - start < 1.0  # refused from the header, not after inflating


FUZZ = textwrap.dedent("""
    import io, sys, zipfile
    import cltorch
    buffer = io.BytesIO()
    state = {"w": cltorch.arange(12.0).reshape(3, 4), "n": [1, 2.5, "x", (3,)],
             "o": cltorch.nn.Linear(2, 3).state_dict()}
    cltorch.save(state, buffer)
    good = buffer.getvalue()
    with zipfile.ZipFile(io.BytesIO(good)) as z:
        pickled = z.read("archive/data.pkl")
    outcomes = {"loaded": 0, "refused": 0}
    def attempt(pkl):
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(out, "w") as dst:
            for info in src.infolist():
                dst.writestr(info.filename, pkl if info.filename.endswith("data.pkl")
                             else src.read(info))
        out.seek(0)
        try:
            cltorch.load(out)
            outcomes["loaded"] += 1
        except RuntimeError:
            outcomes["refused"] += 1
    for i in range(len(pickled)):        # every byte flipped
        attempt(pickled[:i] + bytes([pickled[i] ^ 0xFF]) + pickled[i + 1:])
    for cut in range(0, len(pickled), 7):  # truncations
        attempt(pickled[:cut])
    for cut in range(0, len(good), max(1, len(good) // 40)):  # the whole file cut short
        try:
            cltorch.load(io.BytesIO(good[:cut]))
            outcomes["loaded"] += 1
        except RuntimeError:
            outcomes["refused"] += 1
    print(outcomes["loaded"], outcomes["refused"])
""")


def test_byte_flips_and_truncations_never_crash_or_hang():
    """Every flipped byte and cut of a checkpoint either loads or raises RuntimeError; run in a
    child process so that a crash or a hang fails this test, not the test run."""
    result = subprocess.run([sys.executable, "-c", FUZZ], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded, refused = map(int, result.stdout.split())
    assert refused > 100 and loaded + refused > 300


SAVER = textwrap.dedent("""
    import sys
    import cltorch
    big = {"w": cltorch.ones(4 * 1024 * 1024)}  # 16 MiB
    print("ready", flush=True)
    while True:
        cltorch.save(big, sys.argv[1])
""")


def test_a_killed_save_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "model.pt"
    cltorch.save({"w": cltorch.zeros(3)}, target)
    for delay in (0.05, 0.2, 0.4, 0.7):
        child = subprocess.Popen([sys.executable, "-c", SAVER, str(target)],
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        loaded = cltorch.load(target)  # the old file or a complete new one
        assert tuple(loaded["w"].shape) in ((3,), (4 * 1024 * 1024,))
    leftovers = [n for n in os.listdir(tmp_path) if n != "model.pt"]
    cltorch.save({"w": cltorch.ones(2)}, target)  # removes what a killed named save left
    assert [n for n in os.listdir(tmp_path) if n != "model.pt"] == []
    assert len(leftovers) <= 1  # Linux: unnamed temporaries, at most a link-time window


def test_saved_files_get_the_umask_permissions(tmp_path):
    old = os.umask(0o027)
    try:
        cltorch.save({"w": cltorch.ones(1)}, tmp_path / "a.pt")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "a.pt").st_mode & 0o777 == 0o640
