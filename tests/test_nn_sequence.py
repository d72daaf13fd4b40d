"""Recurrent layers, attention, the transformer encoder, CTC loss and nn.utils against
PyTorch (same weights) on every device: outputs, states and gradients."""
import numpy as np
import pytest
from conftest import assert_close, needs_fp64

import cltorch
import cltorch.nn as nn
import cltorch.nn.functional as F
from cltorch.autograd import gradgradcheck
from cltorch.nn.utils import rnn as rnn_utils

torch = pytest.importorskip("torch")


def _same_weights(theirs, ours, device):
    ours.load_state_dict({k: cltorch.tensor(v.detach().numpy())
                          for k, v in theirs.state_dict().items()})
    return ours.to(device)


def _pair(array, device):
    return (torch.tensor(array, requires_grad=True),
            cltorch.tensor(array, device=device, requires_grad=True))


def _check_grads(ours, theirs, tol=1e-4):
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert_close(p.grad, q.grad.numpy(), rtol=tol, atol=tol)


RECURRENT = [("RNN", {"num_layers": 2, "nonlinearity": "relu"}),
             ("RNN", {"bidirectional": True, "batch_first": True}),
             ("LSTM", {"num_layers": 2, "bidirectional": True}),
             ("LSTM", {"batch_first": True, "bias": False}),
             ("GRU", {"num_layers": 2, "batch_first": True}),
             ("GRU", {"bidirectional": True})]


@pytest.mark.parametrize("name,kwargs", RECURRENT, ids=lambda v: str(v))
def test_recurrent_layers(device, name, kwargs):
    theirs = getattr(torch.nn, name)(3, 4, **kwargs)
    ours = _same_weights(theirs, getattr(nn, name)(3, 4, **kwargs), device)
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(0)
    shape = (2, 5, 3) if kwargs.get("batch_first") else (5, 2, 3)
    xt, xc = _pair(rng.standard_normal(shape).astype(np.float32), device)
    layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
    h0 = rng.standard_normal((layers, 2, 4)).astype(np.float32)
    state_t = torch.tensor(h0)
    state_c = cltorch.tensor(h0, device=device)
    if name == "LSTM":
        state_t, state_c = (state_t, state_t * 0.5), (state_c, state_c * 0.5)
    out_t, hid_t = theirs(xt, state_t)
    out_c, hid_c = ours(xc, state_c)
    assert_close(out_c, out_t.detach().numpy(), rtol=1e-4, atol=1e-5)
    for a, b in zip(hid_c if name == "LSTM" else (hid_c,), hid_t if name == "LSTM" else
                    (hid_t,)):
        assert_close(a, b.detach().numpy(), rtol=1e-4, atol=1e-5)
    (out_t.sum() + (hid_t[0] if name == "LSTM" else hid_t).pow(2).sum()).backward()
    (out_c.sum() + (hid_c[0] if name == "LSTM" else hid_c).pow(2).sum()).backward()
    assert_close(xc.grad, xt.grad.numpy(), rtol=1e-4, atol=1e-4)
    _check_grads(ours, theirs)


SEQUENCE_NODES = [("LSTM", {}), ("LSTM", {"num_layers": 2, "bidirectional": True}),
                  ("LSTM", {"bias": False, "batch_first": True}), ("GRU", {}),
                  ("GRU", {"bias": False, "bidirectional": True}),
                  ("RNN", {"nonlinearity": "relu", "num_layers": 2}),
                  ("RNN", {"bias": False, "batch_first": True})]


@pytest.mark.parametrize("name,kwargs", SEQUENCE_NODES, ids=str)
def test_a_recurrent_direction_is_one_node_with_every_gradient(device, name, kwargs):
    """A direction is one node with fused cell kernels: outputs, final states and the
    gradients of the input, the initial states and every weight against PyTorch in float64,
    and differentiable twice (through the step graph)."""
    needs_fp64(device)
    lstm = name == "LSTM"
    theirs = getattr(torch.nn, name)(3, 4, **kwargs).double()
    ours = _same_weights(theirs, getattr(nn, name)(3, 4, **kwargs).double(), device)
    rng = np.random.default_rng(5)
    layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
    arrays = [rng.standard_normal((2, 6, 3) if kwargs.get("batch_first") else (6, 2, 3)),
              rng.standard_normal((layers, 2, 4)), rng.standard_normal((layers, 2, 4))]
    (xt, xc), (ht, hc), (ct, cc) = (_pair(a, device) for a in arrays)
    out_t, state_t = theirs(xt, (ht, ct) if lstm else ht)
    out_c, state_c = ours(xc, (hc, cc) if lstm else hc)
    results_t = (out_t,) + (state_t if lstm else (state_t,))
    results_c = (out_c,) + (state_c if lstm else (state_c,))
    weights = [rng.standard_normal(t.shape) for t in results_t]
    sum(((a * torch.tensor(w)).sum() for a, w in zip(results_t, weights))).backward()
    sum(((a * cltorch.tensor(w, device=device)).sum() for a, w in
         zip(results_c, weights))).backward()
    pairs = list(zip(results_c, results_t)) + [(xc.grad, xt.grad), (hc.grad, ht.grad)]
    for a, b in pairs + ([(cc.grad, ct.grad)] if lstm else []):
        assert_close(a, b.detach().numpy(), rtol=1e-9, atol=1e-10)
    _check_grads(ours, theirs, tol=1e-9)
    if kwargs.get("num_layers", 1) == 1 and not kwargs.get("bidirectional"):
        if not kwargs.get("batch_first"):  # (else the output is a transposed view of it)
            node = {"LSTM": "LstmBackward0", "GRU": "GruBackward0"}.get(name)
            assert out_c.grad_fn.name() == (node or "RnnTanhBackward0")
        x = cltorch.tensor(arrays[0][:3, :1], device=device, requires_grad=True)
        assert gradgradcheck(lambda x: ours(x)[0], [x], eps=1e-6, atol=1e-5, rtol=1e-3)


def test_packed_sequences_and_unbatched(device):
    theirs = torch.nn.LSTM(3, 4, bidirectional=True)
    ours = _same_weights(theirs, nn.LSTM(3, 4, bidirectional=True), device)
    rng = np.random.default_rng(1)
    seqs = [rng.standard_normal((n, 3)).astype(np.float32) for n in (3, 5, 2)]
    packed_t = torch.nn.utils.rnn.pack_sequence([torch.tensor(s) for s in seqs],
                                                enforce_sorted=False)
    packed_c = rnn_utils.pack_sequence([cltorch.tensor(s, device=device) for s in seqs],
                                       enforce_sorted=False)
    out_t, (h_t, _) = theirs(packed_t)
    out_c, (h_c, _) = ours(packed_c)
    padded_t, lengths_t = torch.nn.utils.rnn.pad_packed_sequence(out_t, batch_first=True)
    padded_c, lengths_c = rnn_utils.pad_packed_sequence(out_c, batch_first=True)
    assert lengths_c.tolist() == lengths_t.tolist() == [3, 5, 2]
    assert_close(padded_c, padded_t.detach().numpy(), rtol=1e-4, atol=1e-5)
    assert_close(h_c, h_t.detach().numpy(), rtol=1e-4, atol=1e-5)
    single = rng.standard_normal((4, 3)).astype(np.float32)  # unbatched (T, I)
    assert_close(ours(cltorch.tensor(single, device=device))[0],
                 theirs(torch.tensor(single))[0].detach().numpy(), rtol=1e-4, atol=1e-5)
    padded = rnn_utils.pad_sequence([cltorch.tensor(s) for s in seqs], batch_first=True)
    want = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs], batch_first=True)
    assert_close(padded, want.numpy())


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells(device, name):
    theirs = getattr(torch.nn, name)(3, 5)
    ours = _same_weights(theirs, getattr(nn, name)(3, 5), device)
    xt, xc = _pair(np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32), device)
    out_t, out_c = theirs(xt), ours(xc)
    first_t = out_t[0] if name == "LSTMCell" else out_t
    first_c = out_c[0] if name == "LSTMCell" else out_c
    assert_close(first_c, first_t.detach().numpy(), rtol=1e-4, atol=1e-5)
    first_t.sum().backward()
    first_c.sum().backward()
    _check_grads(ours, theirs)
    assert ours(xc[0]).shape[-1] == 5 if name != "LSTMCell" else ours(xc[0])[0].shape == (5,)


def test_multihead_attention(device):
    rng = np.random.default_rng(3)
    q = rng.standard_normal((2, 4, 8)).astype(np.float32)   # batch_first
    kv = rng.standard_normal((2, 6, 8)).astype(np.float32)
    padding = np.array([[False] * 5 + [True], [False] * 6])
    causal = np.triu(np.ones((4, 6), dtype=bool), 1)
    for kwargs, call in (({}, {}), ({}, {"key_padding_mask": padding}),
                         ({}, {"attn_mask": causal, "average_attn_weights": False}),
                         ({"kdim": 5, "vdim": 3}, {})):
        theirs = torch.nn.MultiheadAttention(8, 2, batch_first=True, **kwargs)
        ours = _same_weights(theirs, nn.MultiheadAttention(8, 2, batch_first=True, **kwargs),
                             device)
        k = kv[..., :kwargs.get("kdim", 8)]
        v = kv[..., :kwargs.get("vdim", 8)]
        qt, qc = _pair(q, device)
        out_t, w_t = theirs(qt, torch.tensor(k), torch.tensor(v), **{
            key: torch.tensor(val) if isinstance(val, np.ndarray) else val
            for key, val in call.items()})
        out_c, w_c = ours(qc, cltorch.tensor(k, device=device), cltorch.tensor(v, device=device),
                          **{key: cltorch.tensor(val, device=device)
                             if isinstance(val, np.ndarray) else val
                             for key, val in call.items()})
        assert_close(out_c, out_t.detach().numpy(), rtol=1e-4, atol=1e-5)
        assert_close(w_c, w_t.detach().numpy(), rtol=1e-4, atol=1e-5)
        out_t.sum().backward()
        out_c.sum().backward()
        assert_close(qc.grad, qt.grad.numpy(), rtol=1e-4, atol=1e-4)
        _check_grads(ours, theirs)


def test_scaled_dot_product_attention(device):
    rng = np.random.default_rng(4)
    q, k, v = (rng.standard_normal((2, 3, 5, 4)).astype(np.float32) for _ in range(3))
    mask = rng.uniform(size=(5, 5)) > 0.3
    np.fill_diagonal(mask, True)
    for kwargs in ({}, {"is_causal": True}, {"attn_mask": mask}, {"scale": 0.3}):
        want = torch.nn.functional.scaled_dot_product_attention(
            *(torch.tensor(a) for a in (q, k, v)), **{key: torch.tensor(val) if isinstance(
                val, np.ndarray) else val for key, val in kwargs.items()})
        got = F.scaled_dot_product_attention(
            *(cltorch.tensor(a, device=device) for a in (q, k, v)), **{
                key: cltorch.tensor(val, device=device) if isinstance(val, np.ndarray) else val
                for key, val in kwargs.items()})
        assert_close(got, want.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("norm_first,activation", [(False, "relu"), (True, "gelu")])
def test_transformer_encoder(device, norm_first, activation):
    layer_t = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=activation,
                                               norm_first=norm_first, batch_first=True)
    encoder_t = torch.nn.TransformerEncoder(layer_t, 2, enable_nested_tensor=False)
    layer_c = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=activation,
                                         norm_first=norm_first, batch_first=True)
    encoder_c = _same_weights(encoder_t, nn.TransformerEncoder(layer_c, 2), device)
    x = np.random.default_rng(5).standard_normal((3, 4, 8)).astype(np.float32)
    padding = np.array([[False, False, False, True]] * 3)
    xt, xc = _pair(x, device)
    out_t = encoder_t(xt, src_key_padding_mask=torch.tensor(padding))
    out_c = encoder_c(xc, src_key_padding_mask=cltorch.tensor(padding, device=device))
    assert_close(out_c[:, :3], out_t.detach().numpy()[:, :3], rtol=1e-4, atol=1e-4)
    out_t[:, :3].sum().backward()
    out_c[:, :3].sum().backward()
    _check_grads(encoder_c, encoder_t, tol=1e-3)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ctc_loss(device, reduction):
    rng = np.random.default_rng(6)
    logits = rng.standard_normal((12, 3, 5)).astype(np.float32)
    targets = np.array([[1, 2, 2, 4], [3, 1, 0, 0], [2, 2, 2, 0]])
    in_lens, tg_lens = [12, 9, 11], [4, 2, 3]
    lt = torch.tensor(logits, requires_grad=True)
    lc = cltorch.tensor(logits, device=device, requires_grad=True)
    want = torch.nn.functional.ctc_loss(lt.log_softmax(2), torch.tensor(targets),
                                        torch.tensor(in_lens), torch.tensor(tg_lens),
                                        reduction=reduction)
    got = nn.CTCLoss(reduction=reduction)(lc.log_softmax(2), cltorch.tensor(
        targets, device=device), in_lens, tg_lens)
    assert_close(got, want.detach().numpy(), rtol=1e-4, atol=1e-4)
    want.sum().backward()
    got.sum().backward()
    assert_close(lc.grad, lt.grad.numpy(), rtol=1e-3, atol=1e-4)
    flat = cltorch.tensor([1, 2, 2, 4, 3, 1, 2, 2, 2], device=device)  # concatenated targets
    again = F.ctc_loss(lc.log_softmax(2), flat, in_lens, tg_lens, reduction=reduction)
    assert_close(again, want.detach().numpy(), rtol=1e-4, atol=1e-4)


def test_utils(device):
    theirs = torch.nn.Linear(4, 3)
    ours = _same_weights(theirs, nn.Linear(4, 3), device)
    x = np.random.default_rng(7).standard_normal((5, 4)).astype(np.float32)
    (theirs(torch.tensor(x)) * 10).sum().backward()
    (ours(cltorch.tensor(x, device=device)) * 10).sum().backward()
    norm_t = torch.nn.utils.clip_grad_norm_(theirs.parameters(), 1.0)
    norm_c = nn.utils.clip_grad_norm_(ours.parameters(), 1.0)
    assert_close(norm_c, norm_t.numpy(), rtol=1e-5)
    _check_grads(ours, theirs, tol=1e-5)
    torch.nn.utils.clip_grad_value_(theirs.parameters(), 0.05)
    nn.utils.clip_grad_value_(ours.parameters(), 0.05)
    _check_grads(ours, theirs, tol=1e-6)
    vec = nn.utils.parameters_to_vector(ours.parameters())
    assert vec.shape == (15,)
    nn.utils.vector_to_parameters(vec * 0 + 1, ours.parameters())
    assert ours.weight.tolist() == [[1.0] * 4] * 3
