"""save/load on every device: round trips of tensors (views keep sharing), state dicts,
optimizer states and containers; atomic writes; corrupted and hostile files refused; the
PyTorch zip format both ways when PyTorch is installed."""
import io
import os
import pickle
import zipfile

import numpy as np
import pytest

import cltorch
import cltorch.nn as nn
import cltorch.optim as optim
from cltorch import serialization


def test_round_trip(device, tmp_path):
    base = cltorch.arange(12.0, device=device).reshape(3, 4)
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)).to(device)
    opt = optim.Adam(model.parameters(), lr=0.01)
    model(cltorch.randn(4, 3, device=device)).sum().backward()
    opt.step()
    obj = {"base": base, "row": base[1], "column": base[:, 2], "half": base.half(),
           "model": model.state_dict(), "optimizer": opt.state_dict(), "numbers": [1, 2.5, None,
                                                                                  True],
           "nested": {"t": (cltorch.tensor([1, 2], dtype=cltorch.int8), "text")}}
    path = tmp_path / "checkpoint.pt"
    cltorch.save(obj, path)
    back = cltorch.load(path, map_location=device)
    assert back["base"].device == cltorch.device(device)
    assert back["row"]._storage is back["base"]._storage  # views keep their shared storage
    assert back["row"].tolist() == [4.0, 5.0, 6.0, 7.0] and back["column"].tolist() == [2, 6, 10]
    assert back["half"].dtype is cltorch.float16 and back["numbers"] == [1, 2.5, None, True]
    assert back["nested"]["t"][0].dtype is cltorch.int8 and back["nested"]["t"][1] == "text"
    restored = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)).to(device)
    restored.load_state_dict(back["model"])
    for a, b in zip(model.state_dict().values(), restored.state_dict().values()):
        assert np.array_equal(a._host_values(), b._host_values())
    opt2 = optim.Adam(restored.parameters(), lr=1.0)
    opt2.load_state_dict(back["optimizer"])
    assert opt2.param_groups[0]["lr"] == 0.01 and opt2.param_groups[0]["betas"] == (0.9, 0.999)
    buffer = io.BytesIO()
    cltorch.save(cltorch.ones(2, device=device), buffer)
    buffer.seek(0)
    assert cltorch.load(buffer).tolist() == [1.0, 1.0]


def test_atomic_writes(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    cltorch.save({"v": cltorch.ones(3)}, path)

    def crash(*args):
        raise KeyboardInterrupt("power cut")
    monkeypatch.setattr(serialization, "_write_zip", crash)
    with pytest.raises(KeyboardInterrupt):
        cltorch.save({"v": cltorch.zeros(3)}, path)
    monkeypatch.undo()
    assert cltorch.load(path)["v"].tolist() == [1.0, 1.0, 1.0]  # the old file is intact
    assert os.listdir(tmp_path) == ["model.pt"]  # no temporary file left behind


def _archive(pickled, storages=None):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("x/data.pkl", pickled)
        for key, raw in (storages or {}).items():
            z.writestr(f"x/data/{key}", raw)
    buffer.seek(0)
    return buffer


def test_corrupted_and_hostile_files(tmp_path):
    class Evil:
        def __reduce__(self):
            return os.system, ("echo hacked > " + str(tmp_path / "owned"),)
    with pytest.raises(RuntimeError, match="refusing to load global 'posix.system'"):
        cltorch.load(_archive(pickle.dumps(Evil(), protocol=2)))
    assert not (tmp_path / "owned").exists()
    path = tmp_path / "ok.pt"
    cltorch.save({"w": cltorch.ones(100)}, path)
    data = path.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(RuntimeError, match="cltorch.load"):
        cltorch.load(tmp_path / "cut.pt")
    (tmp_path / "text.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="not a checkpoint"):
        cltorch.load(tmp_path / "text.pt")
    # a storage record that does not match its bytes, and a tensor reaching past its storage
    good = io.BytesIO()
    cltorch.save(cltorch.ones(4), good)
    with zipfile.ZipFile(io.BytesIO(good.getvalue())) as z:
        pickled = z.read("archive/data.pkl")
    with pytest.raises(RuntimeError, match="holds 8 bytes, expected 16"):
        cltorch.load(_archive(pickled, {"0": b"\0" * 8}))
    long_view = pickled.replace(b"K\x04\x85", b"K\x09\x85")  # size (4,) -> (9,)
    with pytest.raises(RuntimeError, match="reaches element"):
        cltorch.load(_archive(long_view, {"0": b"\0" * 16}))


def test_pytorch_interop(tmp_path):
    torch = pytest.importorskip("torch")
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3))
    cltorch.save(model.state_dict(), tmp_path / "ours.pt")
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(),
                                 torch.nn.Linear(8, 3))
    theirs.load_state_dict(torch.load(tmp_path / "ours.pt", weights_only=True))
    x = np.random.default_rng(0).standard_normal((2, 1, 4, 4)).astype(np.float32)
    assert np.allclose(theirs(torch.tensor(x)).detach().numpy(),
                       model(cltorch.tensor(x))._host_values(), atol=1e-5)
    torch.save({"sd": theirs.state_dict(), "steps": 7, "bf": torch.ones(2, dtype=torch.bfloat16),
                "param": torch.nn.Parameter(torch.zeros(2))}, tmp_path / "theirs.pt")
    back = cltorch.load(tmp_path / "theirs.pt")
    model.load_state_dict(back["sd"])
    assert back["steps"] == 7 and back["bf"].dtype is cltorch.bfloat16
    assert isinstance(back["param"], nn.Parameter)
    assert np.allclose(theirs(torch.tensor(x)).detach().numpy(),
                       model(cltorch.tensor(x))._host_values(), atol=1e-5)
