"""The names PyTorch programs reach for around the ops, against PyTorch where installed:
constants and dtype limits, in-place activations under autograd, einsum, out=, whole-object
checkpoints, Transformer, parametrizations, samplers, testing helpers."""
import io
import math
import pickle
import time

import numpy as np
import pytest

import cltorch
import cltorch.nn as nn
import cltorch.nn.functional as F

from conftest import assert_close

rng = np.random.default_rng(7)


def _torch():
    return pytest.importorskip("torch")


def test_constants_finfo_iinfo_threads():
    torch = _torch()
    assert (cltorch.inf, cltorch.pi, cltorch.e) == (math.inf, math.pi, math.e)
    assert math.isnan(cltorch.nan)
    for name in ("float16", "bfloat16", "float32", "float64"):
        got, want = cltorch.finfo(getattr(cltorch, name)), torch.finfo(getattr(torch, name))
        for field in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"):
            assert getattr(got, field) == getattr(want, field), (name, field)
    for name in ("uint8", "int8", "int16", "int32", "int64"):
        got, want = cltorch.iinfo(getattr(cltorch, name)), torch.iinfo(getattr(torch, name))
        assert (got.bits, got.min, got.max) == (want.bits, want.min, want.max)
    with pytest.raises(TypeError, match="floating point"):
        cltorch.finfo(cltorch.int32)
    cltorch.set_num_threads(1)
    assert cltorch.get_num_threads() == 1
    assert cltorch.tril_indices(4, 3, -1).tolist() == torch.tril_indices(4, 3, -1).tolist()
    assert cltorch.triu_indices(3, 4, 1).tolist() == torch.triu_indices(3, 4, 1).tolist()


def test_small_api_pieces(device):
    x = cltorch.tensor(rng.standard_normal((2, 3, 4)).astype(np.float32), device=device)
    assert tuple(x.mT.shape) == (2, 4, 3) and tuple(x.mH.shape) == (2, 4, 3)
    assert cltorch.equal(x.mT, x.transpose(-2, -1))
    out = cltorch.empty(2, 3, 3, device=device)
    assert cltorch.matmul(x, x.mT, out=out) is out
    assert_close(out, x.cpu().numpy() @ x.cpu().numpy().transpose(0, 2, 1), rtol=1e-5)
    assert cltorch.bmm(x, x.mT, out=out) is out
    m = cltorch.empty(3, 3, device=device)
    assert cltorch.mm(x[0], x[0].t(), out=m) is m
    with pytest.raises(RuntimeError, match="expected \\[2, 3, 3\\]"):
        cltorch.matmul(x, x.mT, out=cltorch.empty(3, device=device))
    assert x.long().type(cltorch.FloatTensor).dtype is cltorch.float32
    assert x.type("torch.DoubleTensor").dtype is cltorch.float64
    assert x.to(memory_format=cltorch.channels_last).shape == x.shape
    nchw = cltorch.ones(2, 3, 4, 5, device=device)
    nhwc = nchw.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
    assert not nchw.is_contiguous(memory_format=cltorch.channels_last)
    assert nhwc.is_contiguous(memory_format=cltorch.channels_last)
    assert not nhwc.is_contiguous()

    @cltorch.no_grad()
    def doubled(t):
        return t * 2
    assert not doubled(x.requires_grad_()).requires_grad
    compiled = cltorch.compile(lambda t: t + 1)
    assert cltorch.equal(compiled(x), x + 1)
    linear = nn.Linear(4, 2).to(device)
    compiled = cltorch.compile(linear)
    assert compiled._orig_mod is linear and compiled.in_features == 4
    assert linear.compile() is None and cltorch.equal(linear(x[0, :4]), compiled(x[0, :4]))
    assert cltorch.jit.script(linear) is linear and cltorch.jit.trace(linear, x) is linear


EINSUM = [("ij,jk->ik", [(3, 4), (4, 5)]), ("ij,jk,kl->il", [(3, 4), (4, 5), (5, 2)]),
          ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]), ("bhqd,bhkd->bhqk", [(2, 3, 4, 5),
                                                                             (2, 3, 6, 5)]),
          ("ii->i", [(3, 3)]), ("...i->...", [(2, 3, 4)]), ("a...b,b...->a...", [(2, 3, 4),
                                                                               (4, 3)]),
          ("ij,jk,kl,lm", [(2, 3), (3, 4), (4, 5), (5, 2)]),
          ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]), ("...,...", [(2, 1), (1, 3)])]


@pytest.mark.parametrize("equation,shapes", EINSUM, ids=[e for e, _ in EINSUM])
def test_einsum_many_operands_and_ellipsis(equation, shapes, device):
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    tensors = [cltorch.tensor(a, device=device, requires_grad=True) for a in arrays]
    got = cltorch.einsum(equation, *tensors)
    want = np.einsum(equation, *arrays)
    assert_close(got, want, rtol=1e-4, atol=1e-5)
    got.sum().backward()
    torch = _torch()
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    torch.einsum(equation, *ts).sum().backward()
    for t, w in zip(tensors, ts):
        assert_close(t.grad, w.grad.numpy(), rtol=1e-4, atol=1e-5)


INPLACE = ["ReLU", "LeakyReLU", "ELU", "SELU", "CELU", "Hardtanh", "ReLU6", "SiLU", "Mish",
           "Hardswish", "Hardsigmoid", "RReLU"]  # RReLU in eval mode: its mean slope


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_activations_backward_like_pytorch(name, device):
    a = rng.standard_normal((4, 5)).astype(np.float32) * 3
    w = rng.standard_normal((5, 5)).astype(np.float32)
    x = cltorch.tensor(a, device=device, requires_grad=True)
    weight = cltorch.tensor(w, device=device, requires_grad=True)
    hidden = x @ weight
    y = getattr(nn, name)(inplace=True).eval()(hidden)
    assert y is hidden  # written in place
    (y * y).sum().backward()
    torch = _torch()
    tx, tw = torch.tensor(a, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = getattr(torch.nn, name)(inplace=True).eval()(tx @ tw)
    (ty * ty).sum().backward()
    assert_close(y, ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    assert_close(x.grad, tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    assert_close(weight.grad, tw.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_inplace_threshold_and_dropout_keep_leaf_rules(device):
    leaf = cltorch.ones(3, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        F.relu(leaf, inplace=True)
    x = cltorch.tensor([-1.0, 0.5, 2.0], device=device, requires_grad=True)
    y = nn.Threshold(0.1, 20.0, inplace=True)(x * 1)
    y.sum().backward()
    assert y.tolist() == [20.0, 0.5, 2.0] and x.grad.tolist() == [0.0, 1.0, 1.0]
    z = x * 1
    F.dropout(z, 0.5, training=True, inplace=True).sum().backward()


def test_random_sampler_with_replacement_is_lazy():
    data = list(range(10))
    sampler = cltorch.utils.data.RandomSampler(data, replacement=True, num_samples=10 ** 12)
    start = time.perf_counter()
    first = [i for _, i in zip(range(100), iter(sampler))]
    assert time.perf_counter() - start < 5 and len(first) == 100
    assert all(0 <= i < 10 for i in first) and len(sampler) == 10 ** 12
    short = list(cltorch.utils.data.RandomSampler(data, replacement=True, num_samples=70))
    assert len(short) == 70


@pytest.mark.parametrize("shuffle,drop_last", [(False, False), (True, False), (True, True)])
def test_distributed_sampler_partitions_like_pytorch(shuffle, drop_last):
    parts = [list(cltorch.utils.data.DistributedSampler(range(10), 3, r, shuffle=shuffle,
                                                        drop_last=drop_last))
             for r in range(3)]
    assert len({len(p) for p in parts}) == 1
    torch = _torch()  # PyTorch's own order, shuffled or not
    want = [list(torch.utils.data.DistributedSampler(range(10), 3, r, shuffle=shuffle,
                                                     drop_last=drop_last)) for r in range(3)]
    assert parts == want
    sampler = cltorch.utils.data.DistributedSampler(range(1797), 4, 1, seed=7)
    reference = torch.utils.data.DistributedSampler(range(1797), 4, 1, seed=7)
    for epoch in (0, 3):
        sampler.set_epoch(epoch)
        reference.set_epoch(epoch)
        assert list(sampler) == list(reference)
    assert set(sum(parts, [])) <= set(range(10))
    with pytest.raises(ValueError, match="Default process group"):
        cltorch.utils.data.DistributedSampler(range(4))


def _model():
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Dropout(0.1), nn.Linear(4 * 6 * 6, 3), nn.LayerNorm(3),
                         nn.Identity())


def test_whole_model_checkpoints_cross_with_pytorch(tmp_path, device):
    torch = _torch()
    x = rng.standard_normal((2, 1, 8, 8)).astype(np.float32)
    model = _model().to(device).eval()
    path = tmp_path / "model.pt"
    cltorch.save(model, path)
    # on the cpu: a model saved from cuda:0 loads onto PyTorch's GPU where it has one
    theirs = torch.load(path, weights_only=False, map_location="cpu")
    assert type(theirs).__module__.startswith("torch.nn")
    want = theirs(torch.tensor(x)).detach().numpy()
    assert_close(model(cltorch.tensor(x, device=device)), want, rtol=1e-5, atol=1e-6)
    torch.save(theirs, path)
    ours = cltorch.load(path, weights_only=False, map_location=device)
    assert type(ours) is nn.Sequential and isinstance(ours[0], nn.Conv2d)
    assert str(ours[0].weight.device) == str(cltorch.device(device))
    assert_close(ours(cltorch.tensor(x, device=device)), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(RuntimeError, match="refusing to load global 'torch.nn.modules"):
        cltorch.load(path)  # weights_only=True is the default, and never ignored
    with pytest.raises(RuntimeError, match="refusing"):
        cltorch.load(path, weights_only=None)


class Point:
    def __init__(self, x):
        self.x = x


def test_safe_globals_numpy_and_map_location(tmp_path):
    path = tmp_path / "mixed.pt"
    cltorch.save({"p": Point(3), "a": np.arange(3), "t": cltorch.ones(2)}, path)
    with pytest.raises(RuntimeError, match="refusing to load global"):
        cltorch.load(path)
    numpy_globals = [np._core.multiarray._reconstruct, np.ndarray, np.dtype,
                     type(np.dtype(np.int64))]
    with cltorch.serialization.safe_globals([Point] + numpy_globals):
        loaded = cltorch.load(path)
    assert loaded["p"].x == 3 and loaded["a"].tolist() == [0, 1, 2]
    with pytest.raises(RuntimeError, match="refusing"):
        cltorch.load(path)  # the context ended
    cltorch.serialization.add_safe_globals([Point] + numpy_globals)
    try:
        assert cltorch.load(path)["t"].tolist() == [1.0, 1.0]
    finally:
        cltorch.serialization.clear_safe_globals()
    whole = cltorch.load(path, weights_only=False, map_location=lambda storage, loc: storage)
    assert whole["t"].device.type == "cpu"
    assert cltorch.load(path, weights_only=False, map_location={"cpu": "cpu"})["a"].sum() == 3
    with pytest.raises(TypeError, match="map_location"):
        cltorch.load(path, weights_only=False, map_location=3.5)


def test_cuda_checkpoint_without_accelerator_says_map_location(tmp_path, monkeypatch):
    from cltorch.backend import registry
    from cltorch import serialization
    monkeypatch.setenv("CLTORCH_CUDA", "none")
    registry.accelerators.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="map_location=torch.device\\('cpu'\\)"):
            serialization._restore_location("cuda:0")
        assert serialization._placement("cpu")("cuda:0") == "cpu"
    finally:
        monkeypatch.delenv("CLTORCH_CUDA")
        registry.accelerators.cache_clear()


def test_transformer_and_decoder_match_pytorch(device):
    torch = _torch()
    torch.manual_seed(0)
    reference = torch.nn.Transformer(d_model=16, nhead=4, num_encoder_layers=2,
                                     num_decoder_layers=2, dim_feedforward=32, dropout=0.0,
                                     batch_first=True, norm_first=True)
    model = nn.Transformer(d_model=16, nhead=4, num_encoder_layers=2, num_decoder_layers=2,
                           dim_feedforward=32, dropout=0.0, batch_first=True, norm_first=True)
    model.load_state_dict({k: cltorch.tensor(v.detach().numpy())
                           for k, v in reference.state_dict().items()})
    model.to(device)
    src = rng.standard_normal((3, 5, 16)).astype(np.float32)
    tgt = rng.standard_normal((3, 4, 16)).astype(np.float32)
    pad = np.zeros((3, 5), bool)
    pad[0, 3:] = True
    want = reference(torch.tensor(src), torch.tensor(tgt),
                     tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(4),
                     src_key_padding_mask=torch.tensor(pad),
                     memory_key_padding_mask=torch.tensor(pad))
    got = model(cltorch.tensor(src, device=device), cltorch.tensor(tgt, device=device),
                tgt_mask=nn.Transformer.generate_square_subsequent_mask(4, device=device),
                src_key_padding_mask=cltorch.tensor(pad, device=device),
                memory_key_padding_mask=cltorch.tensor(pad, device=device))
    assert_close(got, want.detach().numpy(), rtol=1e-4, atol=1e-5)
    assert len(list(model.parameters())) == len(list(reference.parameters()))


def test_scaled_dot_product_attention_causal(device):
    torch = _torch()
    q, k, v = (rng.standard_normal((2, 3, 5, 4)).astype(np.float32) for _ in range(3))
    got = F.scaled_dot_product_attention(*(cltorch.tensor(a, device=device) for a in (q, k, v)),
                                         is_causal=True)
    want = torch.nn.functional.scaled_dot_product_attention(
        *(torch.tensor(a) for a in (q, k, v)), is_causal=True)
    assert_close(got, want.numpy(), rtol=1e-5, atol=1e-6)


LAYERS = {
    "RMSNorm": (lambda m: m.nn.RMSNorm(5), (3, 5)),
    "CosineSimilarity": (lambda m: m.nn.CosineSimilarity(dim=1), (3, 5), (3, 5)),
    "PairwiseDistance": (lambda m: m.nn.PairwiseDistance(), (3, 5), (3, 5)),
    "Unfold": (lambda m: m.nn.Unfold(2, stride=2), (1, 2, 4, 4)),
    "Fold": (lambda m: m.nn.Fold((4, 4), 2, stride=2), (1, 8, 4)),
    "ChannelShuffle": (lambda m: m.nn.ChannelShuffle(2), (1, 4, 3)),
    "ZeroPad1d": (lambda m: m.nn.ZeroPad1d((1, 2)), (1, 2, 3)),
    "UpsamplingNearest2d": (lambda m: m.nn.UpsamplingNearest2d(scale_factor=2), (1, 1, 2, 3)),
    "UpsamplingBilinear2d": (lambda m: m.nn.UpsamplingBilinear2d(scale_factor=2), (1, 1, 2, 3)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_new_layers_match_pytorch(name, device):
    torch = _torch()
    make, *shapes = LAYERS[name]
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    inputs = [cltorch.tensor(a, device=device, requires_grad=True) for a in arrays]
    got = make(cltorch).to(device)(*inputs)
    want_inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
    want = make(torch)(*want_inputs)
    assert_close(got, want.detach().numpy(), rtol=1e-5, atol=1e-6)
    got.sum().backward()
    want.sum().backward()
    for g, w in zip(inputs, want_inputs):
        assert_close(g.grad, w.grad.numpy(), rtol=1e-4, atol=1e-5)
    assert repr(make(cltorch)) == repr(make(torch))


def test_weight_norm_both_forms_match_pytorch(device):
    torch = _torch()
    a = rng.standard_normal((3, 4)).astype(np.float32)
    w = rng.standard_normal((5, 4)).astype(np.float32)
    results = []
    for m, dev in ((cltorch, device), (torch, "cpu")):
        for form in ("parametrizations", "old"):
            layer = m.nn.Linear(4, 5)
            with m.no_grad():
                layer.weight.copy_(m.tensor(w))
                layer.bias.zero_()
            layer = layer.to(dev)
            if form == "old":
                m.nn.utils.weight_norm(layer)
                g = layer.weight_g
            else:
                m.nn.utils.parametrizations.weight_norm(layer)
                g = layer.parametrizations.weight.original0
            out = layer(m.tensor(a).to(dev))
            out.pow(2).sum().backward()
            results.append((sorted(layer.state_dict()), out.detach().cpu().numpy(),
                            g.grad.cpu().numpy()))
    for ours, theirs in zip(results[:2], results[2:]):
        assert ours[0] == theirs[0]
        assert_close(ours[1], theirs[1], rtol=1e-5, atol=1e-6)
        assert_close(ours[2], theirs[2], rtol=1e-4, atol=1e-5)
    layer = nn.Linear(4, 5)
    nn.utils.parametrizations.weight_norm(layer)
    nn.utils.parametrize.remove_parametrizations(layer, "weight")
    assert type(layer) is nn.Linear and sorted(layer.state_dict()) == ["bias", "weight"]


def test_testing_assert_close():
    cltorch.testing.assert_close(cltorch.ones(3), cltorch.ones(3) + 1e-7)
    cltorch.testing.assert_close({"a": [cltorch.ones(1)]}, {"a": [cltorch.ones(1)]})
    cltorch.testing.assert_close(1.0, 1.0 + 1e-9)
    with pytest.raises(AssertionError, match="Mismatched elements: 1 / 3"):
        cltorch.testing.assert_close(cltorch.tensor([1.0, 2.0, 3.0]),
                                     cltorch.tensor([1.0, 2.5, 3.0]))
    with pytest.raises(AssertionError, match="dtype"):
        cltorch.testing.assert_close(cltorch.ones(2), cltorch.ones(2, dtype=cltorch.float64))
    with pytest.raises(AssertionError, match="shape"):
        cltorch.testing.assert_close(cltorch.ones(2), cltorch.ones(3))
    t = cltorch.testing.make_tensor(4, 5, dtype=cltorch.float32, device="cpu", low=-1, high=1)
    assert tuple(t.shape) == (4, 5) and t.abs().max().item() <= 1


def test_data_parallel_on_one_device_and_checkpoint():
    model = nn.Linear(3, 2)
    wrapped = nn.DataParallel(model, device_ids=[0])
    x = cltorch.ones(4, 3)
    assert cltorch.equal(wrapped(x), model(x))
    assert sorted(wrapped.state_dict()) == ["module.bias", "module.weight"]
    from cltorch.utils.checkpoint import checkpoint
    w = cltorch.ones(3, requires_grad=True)
    checkpoint(lambda t: (t * w).sum(), x, use_reentrant=False).backward()
    assert w.grad.tolist() == [4.0, 4.0, 4.0]


def test_pickled_modules_keep_hooks_working():
    model = nn.Linear(2, 2)
    clone = pickle.loads(pickle.dumps(model))
    seen = []
    clone.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    clone(cltorch.ones(1, 2))
    assert seen == [(1, 2)]
    buffer = io.BytesIO()
    cltorch.save(model, buffer)
    buffer.seek(0)
    assert cltorch.equal(cltorch.load(buffer, weights_only=False).weight, model.weight)


WHOLE_MODULES = {
    "Embedding": (lambda m: m.nn.Embedding(10, 4), lambda: np.array([[1, 2], [3, 4]])),
    "LSTM": (lambda m: m.nn.LSTM(4, 5, 2, batch_first=True), lambda: rng.standard_normal(
        (2, 3, 4)).astype(np.float32)),
    "GRU bidirectional": (lambda m: m.nn.GRU(4, 5, bidirectional=True),
                          lambda: rng.standard_normal((3, 2, 4)).astype(np.float32)),
    "TransformerEncoderLayer": (lambda m: m.nn.TransformerEncoderLayer(8, 2, 16, 0.0),
                                lambda: rng.standard_normal((3, 2, 8)).astype(np.float32)),
    "GELU MLP": (lambda m: m.nn.Sequential(m.nn.Linear(4, 4), m.nn.GELU(), m.nn.LayerNorm(4)),
                 lambda: rng.standard_normal((2, 4)).astype(np.float32)),
    "pooling": (lambda m: m.nn.Sequential(m.nn.Conv2d(1, 2, 3, padding=1), m.nn.MaxPool2d(2),
                                          m.nn.AdaptiveAvgPool2d(1), m.nn.Flatten()),
                lambda: rng.standard_normal((1, 1, 6, 6)).astype(np.float32)),
    "ConvTranspose": (lambda m: m.nn.Sequential(m.nn.ConvTranspose2d(2, 3, 3, stride=2),
                                                m.nn.BatchNorm2d(3), m.nn.Tanh()),
                      lambda: rng.standard_normal((1, 2, 3, 3)).astype(np.float32)),
    "Conv1d GroupNorm": (lambda m: m.nn.Sequential(m.nn.Conv1d(2, 4, 3), m.nn.GroupNorm(2, 4),
                                                   m.nn.SiLU()),
                         lambda: rng.standard_normal((1, 2, 8)).astype(np.float32)),
}


def _first(output):
    return (output[0] if isinstance(output, tuple) else output).detach().cpu().numpy()


@pytest.mark.parametrize("name", sorted(WHOLE_MODULES))
def test_whole_modules_cross_both_ways(name):
    torch = _torch()
    make, data = WHOLE_MODULES[name]
    x = data()
    for source, target in ((cltorch, torch), (torch, cltorch)):
        module = make(source).eval()
        buffer = io.BytesIO()
        source.save(module, buffer)
        buffer.seek(0)
        loaded = target.load(buffer, weights_only=False).eval()
        assert type(loaded).__name__ == type(module).__name__
        assert_close(_first(loaded(target.tensor(x))), _first(module(source.tensor(x))),
                     rtol=1e-5, atol=1e-6)


def test_as_strided_and_inplace_views_like_pytorch(device):
    torch = _torch()
    a = np.arange(12.0, dtype=np.float32)
    got = []
    for m, dev in ((cltorch, device), (torch, "cpu")):
        x = m.tensor(a).to(dev).requires_grad_()
        y = m.as_strided(x, (3, 3), (2, 1), 1)  # overlapping windows
        (y * m.arange(9.0).reshape(3, 3).to(dev)).sum().backward()
        z = m.ones(2, 3).to(dev)
        z.unsqueeze_(0)
        got.append((y.tolist(), x.grad.tolist(), tuple(z.shape),
                    tuple(m.ones(2, 3).to(dev).t_().shape),
                    tuple(m.ones(1, 2, 1).to(dev).squeeze_().shape)))
    assert got[0] == got[1]
    with pytest.raises(RuntimeError, match="require a storage of"):
        cltorch.as_strided(cltorch.ones(4, device=device), (3,), (2,))
    with pytest.raises(RuntimeError, match="use unsqueeze"):
        (cltorch.ones(2, requires_grad=True) * 2).unsqueeze_(0)


@pytest.mark.parametrize("size", [{"scale_factor": 2}, {"size": (3, 4)},
                                  {"scale_factor": 0.6}, {"size": (8, 11)}], ids=str)
def test_interpolate_nearest_exact(size, device):
    torch = _torch()
    x = rng.standard_normal((1, 2, 5, 7)).astype(np.float32)
    got = F.interpolate(cltorch.tensor(x, device=device), mode="nearest-exact", **size)
    want = torch.nn.functional.interpolate(torch.tensor(x), mode="nearest-exact", **size)
    assert_close(got, want.numpy())


def test_device_context_attention_switch_and_to_empty(device):
    with cltorch.device(device):
        x = cltorch.ones(2)
        layer = nn.Linear(2, 2)
    assert str(x.device) == str(cltorch.device(device)) == str(layer.weight.device)
    assert cltorch.ones(1).device.type == "cpu"  # the default is back after the block
    from cltorch.nn.attention import SDPBackend, sdpa_kernel
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.MATH]):
        q = cltorch.ones(1, 2, 3, 4, device=device)
        assert tuple(F.scaled_dot_product_attention(q, q, q).shape) == (1, 2, 3, 4)
    moved = nn.Linear(3, 2).to_empty(device=device)
    assert tuple(moved.weight.shape) == (2, 3) and str(moved.weight.device) == \
        str(cltorch.device(device))


def test_gradient_penalty_and_legacy_new_like_pytorch(device):
    """WGAN-GP's penalty: a gradient taken with create_graph, then differentiated again."""
    torch = _torch()
    real, fake = (rng.standard_normal((3, 4)).astype(np.float32) for _ in range(2))
    alpha = rng.uniform(size=(3, 1)).astype(np.float32)
    reference = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.LeakyReLU(0.2),
                                    torch.nn.Linear(8, 1))
    results = []
    for m, dev in ((cltorch, device), (torch, "cpu")):
        critic = m.nn.Sequential(m.nn.Linear(4, 8), m.nn.LeakyReLU(0.2), m.nn.Linear(8, 1))
        critic.load_state_dict({k: m.tensor(v.detach().numpy())
                                for k, v in reference.state_dict().items()})
        critic.to(dev)
        mix = (m.tensor(alpha) * m.tensor(real) + (1 - m.tensor(alpha)) * m.tensor(fake))
        mix = mix.to(dev).requires_grad_(True)
        out = critic(mix)
        grads = m.autograd.grad(outputs=out, inputs=mix, grad_outputs=m.ones_like(out),
                                create_graph=True, retain_graph=True, only_inputs=True)[0]
        penalty = ((grads.norm(2, dim=1) - 1) ** 2).mean()
        penalty.backward()
        results.append((penalty.item(), critic[0].weight.grad.cpu().numpy()))
    assert abs(results[0][0] - results[1][0]) <= 1e-5 * abs(results[1][0])
    assert_close(results[0][1], results[1][1], rtol=1e-4, atol=1e-5)
    x = cltorch.ones(2, dtype=cltorch.float16, device=device)
    assert x.new(3).dtype is cltorch.float16 and tuple(x.new(3).shape) == (3,)
    assert x.new([1, 2]).tolist() == [1.0, 2.0] and str(x.new(1).device) == str(x.device)
