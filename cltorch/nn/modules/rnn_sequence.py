"""The recurrence of RNN, LSTM and GRU layers: one step as a graph of ops (``step``: the
cells, packed sequences, second derivatives), and one direction over a whole sequence as one
autograd node (``sequence_node``), as PyTorch's fused recurrent kernels.

In a node a step is one GEMM and a few fused kernels (the ``lstm_*``/``gru_*`` rows of the
pointwise table), forward and backward, without autograd bookkeeping, and the recurrent
weight's gradient is one GEMM over all the steps instead of one per step and a running sum.
Differentiated again (``create_graph``), a node takes its gradients from the step graph."""
from __future__ import annotations

from ...api.layout import cat, stack
from ...autograd.engine import grad
from ...autograd.grad_mode import no_grad
from ...autograd.graph import record
from ...ops import pointwise
from .. import functional as F


def _rnn_step(mode, gi, h, w_hh, b_hh):
    """One step of a plain RNN from the precomputed input part ``gi``."""
    pre = gi + F.linear(h, w_hh, b_hh)
    return pre.relu() if mode == "RNN_RELU" else pre.tanh()


def _lstm_step(gi, state, w_hh, b_hh):
    h, c = state
    i, f, g, o = (gi + F.linear(h, w_hh, b_hh)).chunk(4, -1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c


def _gru_step(gi, h, w_hh, b_hh):
    gh = F.linear(h, w_hh, b_hh)
    ir, iz, in_ = gi.chunk(3, -1)
    hr, hz, hn = gh.chunk(3, -1)
    r, z = (ir + hr).sigmoid(), (iz + hz).sigmoid()
    n = (in_ + r * hn).tanh()
    return (1 - z) * n + z * h


def step(mode, gi, state, w_hh, b_hh):
    """One step of ``mode`` ("RNN_TANH", "RNN_RELU", "LSTM", "GRU") as a graph of ops."""
    if mode == "LSTM":
        return _lstm_step(gi, state, w_hh, b_hh)
    if mode == "GRU":
        return _gru_step(gi, state, w_hh, b_hh)
    return _rnn_step(mode, gi, state, w_hh, b_hh)


def sequence_node(mode, gi, state, w_hh, b_hh, steps):
    """One direction over the time ``steps`` (in processing order) as one node, from every
    step's input part ``gi`` (T, N, gates * H): (outputs, final state)."""
    if mode == "LSTM":
        out, h, c = _lstm(gi, *state, w_hh, b_hh, steps)
        return out, (h, c)
    return _gru(gi, state, w_hh, b_hh, steps) if mode == "GRU" else \
        _rnn(mode, gi, state, w_hh, b_hh, steps)


def _node(mode, name, outputs, inputs, saved, steps, backward):
    """Record the node; its backward runs ``backward(grad_outputs, inputs, saved)`` (the
    values the node saved: nothing else is held once it has run) or, differentiated again,
    the step graph."""
    def direct(*args):
        grads, values = args[:len(outputs)], args[len(outputs):]
        return backward(grads, values[:len(inputs)], values[len(inputs):])

    def graph(*args):
        grads, values = args[:len(outputs)], args[len(outputs):]
        return _graph_grads(mode, values[:len(inputs)], steps, grads)
    return record(outputs, name, inputs, graph, saved=inputs + saved, direct=direct)


def _rnn(mode, gi, h0, w_hh, b_hh, steps):
    """tanh or relu RNN: a step is a GEMM and two kernels, each way."""
    act = "relu" if mode == "RNN_RELU" else "tanh"
    with no_grad():
        pre = gi.clone() if b_hh is None else gi + b_hh
        hs = h0.new_empty((len(steps),) + h0.shape)
        h = h0
        for t in steps:
            pre[t].add_(h @ w_hh.t())
            h = pointwise.apply(act, [pre[t]], out=hs[t], inplace=True)
        h_n = h.clone()
    # relu's and tanh's gradients both read the result only
    row = "threshold_backward" if act == "relu" else "tanh_backward"

    def backward(grads, inputs, saved):
        (g_out, dh), (_, h0, w_hh), (hs,) = grads, inputs[:3], saved
        d_pre = hs.new_empty(hs.shape)
        for t in reversed(steps):
            dh = g_out[t] + dh
            pointwise.apply(row, [dh, hs[t]], out=d_pre[t], inplace=True)
            dh = d_pre[t] @ w_hh
        return _finish(d_pre, d_pre, dh, (), hs, h0, w_hh, len(inputs) > 3, steps)
    name = "RnnReluBackward0" if act == "relu" else "RnnTanhBackward0"
    return _node(mode, name, (hs, h_n), _inputs(gi, (h0,), w_hh, b_hh), (hs,), steps,
                 backward)


def _lstm(gi, h0, c0, w_hh, b_hh, steps):
    """LSTM: a step is a GEMM and three kernels forward, a GEMM and seven backward."""
    with no_grad():
        pre = gi.clone() if b_hh is None else gi + b_hh  # pre-activation gates, (T, N, 4H)
        hs, cs = h0.new_empty((len(steps),) + h0.shape), c0.new_empty((len(steps),) + c0.shape)
        h, c = h0, c0
        for t in steps:
            pre[t].add_(h @ w_hh.t())
            i, f, g, o = pre[t].chunk(4, -1)
            c = pointwise.apply("lstm_cell", [i, f, g, c], out=cs[t], inplace=True)
            h = pointwise.apply("lstm_output", [o, c], out=hs[t], inplace=True)
        h_n, c_n = h.clone(), c.clone()

    def backward(grads, inputs, saved):
        (g_out, dh, dc), (_, h0, c0, w_hh), (pre, hs, cs) = grads, inputs[:4], saved
        d_pre = pre.new_empty(pre.shape)
        for k in range(len(steps) - 1, -1, -1):
            t = steps[k]
            c_prev = cs[steps[k - 1]] if k else c0
            dh = g_out[t] + dh
            i, f, g, o = pre[t].chunk(4, -1)
            di, df, dg, do = d_pre[t].chunk(4, -1)
            dc = pointwise.apply("lstm_tanh_grad", [dh, o, cs[t], dc])
            pointwise.apply("lstm_sigmoid_tanh_grad", [dc, i, g], out=di, inplace=True)
            pointwise.apply("lstm_sigmoid_grad", [dc, f, c_prev], out=df, inplace=True)
            pointwise.apply("lstm_tanh_grad", [dc, i, g, 0], out=dg, inplace=True)
            pointwise.apply("lstm_sigmoid_tanh_grad", [dh, o, cs[t]], out=do, inplace=True)
            dc = pointwise.apply("mul_sigmoid", [dc, f])
            dh = d_pre[t] @ w_hh
        return _finish(d_pre, d_pre, dh, (dc,), hs, h0, w_hh, len(inputs) > 4, steps)
    return _node("LSTM", "LstmBackward0", (hs, h_n, c_n), _inputs(gi, (h0, c0), w_hh, b_hh),
                 (pre, hs, cs), steps, backward)


def _gru(gi, h0, w_hh, b_hh, steps):
    """GRU: a step is a GEMM and three kernels forward, a GEMM and nine backward."""
    with no_grad():
        gh = gi.new_empty(gi.shape)  # every step's hidden part of the gates, bias included
        hs, ns = h0.new_empty((len(steps),) + h0.shape), h0.new_empty((len(steps),) + h0.shape)
        h = h0
        for t in steps:
            pointwise.apply("add", [h @ w_hh.t(), 0 if b_hh is None else b_hh, 1], out=gh[t],
                            inplace=True)
            a_r, a_z, a_n = gi[t].chunk(3, -1)
            h_r, h_z, h_n = gh[t].chunk(3, -1)
            n = pointwise.apply("gru_candidate", [a_n, a_r, h_r, h_n], out=ns[t], inplace=True)
            h = pointwise.apply("gru_output", [a_z, h_z, n, h], out=hs[t], inplace=True)
        h_last = h.clone()

    def backward(grads, inputs, saved):
        (g_out, dh), (gi, h0, w_hh), (gh, hs, ns) = grads, inputs[:3], saved
        d_gi, d_gh = gi.new_empty(gi.shape), gh.new_empty(gh.shape)
        two = 2 * h0.shape[-1]
        for k in range(len(steps) - 1, -1, -1):
            t = steps[k]
            h_prev = hs[steps[k - 1]] if k else h0
            dh = g_out[t] + dh
            a_r, a_z, a_n = gi[t].chunk(3, -1)
            h_r, h_z, h_n = gh[t].chunk(3, -1)
            _, _, di_n = d_gi[t].chunk(3, -1)
            dh_r, dh_z, dh_n = d_gh[t].chunk(3, -1)
            s = a_z + h_z
            pointwise.apply("gru_update_grad", [dh, s, h_prev, ns[t]], out=dh_z, inplace=True)
            pointwise.apply("gru_candidate_grad", [dh, s, ns[t]], out=di_n, inplace=True)
            pointwise.apply("gru_hidden_grad", [di_n, a_r, h_r], out=dh_n, inplace=True)
            pointwise.apply("gru_reset_grad", [di_n, a_r, h_r, h_n], out=dh_r, inplace=True)
            d_gi[t][..., :two].copy_(d_gh[t][..., :two])  # r and z: the same in both parts
            dh = pointwise.apply("mul_sigmoid", [dh, s]) + d_gh[t] @ w_hh
        return _finish(d_gi, d_gh, dh, (), hs, h0, w_hh, len(inputs) > 3, steps)
    return _node("GRU", "GruBackward0", (hs, h_last), _inputs(gi, (h0,), w_hh, b_hh),
                 (gh, hs, ns), steps, backward)


def _inputs(gi, states, w_hh, b_hh):
    return (gi,) + states + (w_hh,) + (() if b_hh is None else (b_hh,))


def _finish(d_gi, d_hidden, dh, d_states, hs, h0, w_hh, bias, steps):
    """The node's input gradients: ``gi``'s, the initial state's, and the recurrent weight's
    (every step's hidden gate gradients ``d_hidden`` against its previous h: one GEMM) and
    bias's (when it has one)."""
    d_w = None
    if w_hh.requires_grad:
        first = h0.unsqueeze(0)
        h_prev = cat([first, hs[:-1]]) if steps[0] == 0 else cat([hs[1:], first])
        d_w = d_hidden.reshape(-1, d_hidden.shape[-1]).t() @ h_prev.reshape(-1, h0.shape[-1])
    d_b = (d_hidden.sum((0, 1)),) if bias else ()
    return (d_gi, dh) + d_states + (d_w,) + d_b


def _graph_grads(mode, inputs, steps, grad_outputs):
    """The node's input gradients through the step graph, with a graph of their own."""
    lstm = mode == "LSTM"
    states = inputs[1:3] if lstm else inputs[1:2]
    w_hh = inputs[1 + len(states)]
    b_hh = inputs[2 + len(states)] if len(inputs) > 2 + len(states) else None
    state, outputs = (tuple(states) if lstm else states[0]), [None] * len(steps)
    for t in steps:
        state = step(mode, inputs[0][t], state, w_hh, b_hh)
        outputs[t] = state[0] if lstm else state
    wanted = [x for x in inputs if x.requires_grad]
    finals = state if lstm else (state,)
    found = iter(grad((stack(outputs),) + tuple(finals), wanted, grad_outputs,
                      create_graph=True, allow_unused=True))
    return tuple(next(found) if x.requires_grad else None for x in inputs)
