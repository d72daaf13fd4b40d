"""Recurrent layers: RNN, LSTM, GRU and their cells, with PyTorch's parameter names, gate
order, initial states, stacking, bidirectionality, batch_first, dropout and packed input.
The input projection of a whole sequence is one matrix product; the recurrence steps run one
time step at a time. An LSTM direction (without packed lengths) is one autograd node over the
whole sequence with fused cell kernels (``_lstm_sequence``); RNN and GRU steps are graphs of a
few ops."""
from __future__ import annotations

import math

from ...api.creation import empty, zeros
from ...api.layout import cat, stack
from .. import functional as F
from .. import init
from ..parameter import Parameter
from ..utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence
from .module import Module
from .rnn_sequence import sequence_node, step as _step

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _uniform_init(module):
    """PyTorch's recurrent init: every weight and bias uniform in +-1/sqrt(hidden_size)."""
    stdv = 1.0 / math.sqrt(module.hidden_size) if module.hidden_size > 0 else 0
    for weight in module.parameters():
        init.uniform_(weight, -stdv, stdv)


class RNNCellBase(Module):
    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = Parameter(empty((num_chunks * hidden_size, input_size), device=device,
                                         dtype=dtype))
        self.weight_hh = Parameter(empty((num_chunks * hidden_size, hidden_size),
                                         device=device, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(empty(num_chunks * hidden_size, device=device, dtype=dtype))
            self.bias_hh = Parameter(empty(num_chunks * hidden_size, device=device, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        _uniform_init(self)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _run(self, mode, input, state):
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        if state is None:
            h = zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
            state = (h, h) if mode == "LSTM" else h
        elif not batched:
            state = tuple(s.unsqueeze(0) for s in state) if mode == "LSTM" else \
                state.unsqueeze(0)
        out = _step(mode, F.linear(x, self.weight_ih, self.bias_ih), state, self.weight_hh,
                    self.bias_hh)
        if batched:
            return out
        return tuple(o.squeeze(0) for o in out) if mode == "LSTM" else out.squeeze(0)


class RNNCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        return self._run("RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU", input, hx)


class LSTMCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        return self._run("LSTM", input, hx)


class GRUCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input, hx=None):
        return self._run("GRU", input, hx)


class RNNBase(Module):
    """Stacked (bi)directional recurrence over (T, B, I) or (B, T, I) (batch_first)."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, proj_size=0,
                 device=None, dtype=None):
        super().__init__()
        if proj_size:
            raise NotImplementedError("LSTM proj_size is not supported by cltorch yet")
        if not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, 0
        gates = _GATES[mode]
        directions = 2 if bidirectional else 1
        # PyTorch's bookkeeping of the weight names (also what PyTorch needs to unpickle a
        # whole RNN written by cltorch)
        self._flat_weights_names, self._all_weights = [], []
        for layer in range(num_layers):
            for direction in range(directions):
                self._all_weights.append([])
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                size_in = input_size if layer == 0 else hidden_size * directions
                shapes = [("weight_ih", (gates * hidden_size, size_in)),
                          ("weight_hh", (gates * hidden_size, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (gates * hidden_size,)),
                               ("bias_hh", (gates * hidden_size,))]
                for name, shape in shapes:
                    setattr(self, name + suffix, Parameter(empty(shape, device=device,
                                                                 dtype=dtype)))
                    self._flat_weights_names.append(name + suffix)
                    self._all_weights[-1].append(name + suffix)
        self.reset_parameters()

    def reset_parameters(self):
        _uniform_init(self)

    def __getstate__(self):
        state = super().__getstate__()
        # PyTorch's RNNs read their weights through this list: written for it, dropped on load
        state["_flat_weights"] = [getattr(self, n) for n in self._flat_weights_names]
        return state

    def __setstate__(self, state):
        super().__setstate__({k: v for k, v in state.items()
                              if k not in ("_flat_weights", "_flat_weight_refs")})

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s

    def _weights(self, layer, direction):
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        return [getattr(self, n + suffix, None) for n in ("weight_ih", "weight_hh", "bias_ih",
                                                          "bias_hh")]

    def forward(self, input, hx=None):
        packed = isinstance(input, PackedSequence)
        lengths = None
        if packed:
            sorted_indices = input.sorted_indices
            input, lengths = pad_packed_sequence(input)
            if sorted_indices is not None:  # work in the packed (sorted) order
                input = input.index_select(1, sorted_indices)
                lengths = lengths.index_select(0, sorted_indices.cpu())
            x, batched = input, True
        else:
            batched = input.ndim == 3
            x = input if batched else input.unsqueeze(1)
            if self.batch_first and batched:
                x = x.transpose(0, 1)
        directions = 2 if self.bidirectional else 1
        h0, c0 = self._initial(hx, x, directions, batched)
        mask = None
        if lengths is not None:
            from ...api.creation import arange
            steps = arange(x.shape[0]).unsqueeze(1)
            mask = (steps < lengths.unsqueeze(0)).to(x.device).unsqueeze(-1).to(x.dtype)
        last_h, last_c = [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                k = layer * directions + direction
                state = (h0[k], c0[k]) if self.mode == "LSTM" else h0[k]
                out, state = self._direction(x, state, *self._weights(layer, direction),
                                             reverse=bool(direction), mask=mask)
                outputs.append(out)
                last_h.append(state[0] if self.mode == "LSTM" else state)
                if self.mode == "LSTM":
                    last_c.append(state[1])
            x = outputs[0] if directions == 1 else cat(outputs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        h_n = stack(last_h)
        hidden = (h_n, stack(last_c)) if self.mode == "LSTM" else h_n
        if packed:
            if sorted_indices is not None:
                x = x.index_select(1, _inverse(sorted_indices))
                lengths = lengths.index_select(0, _inverse(sorted_indices).cpu())
                hidden = tuple(h.index_select(1, _inverse(sorted_indices)) for h in hidden) \
                    if self.mode == "LSTM" else hidden.index_select(1, _inverse(sorted_indices))
            return pack_padded_sequence(x, lengths, enforce_sorted=sorted_indices is None), \
                hidden
        if not batched:
            x = x.squeeze(1)
            hidden = tuple(h.squeeze(1) for h in hidden) if self.mode == "LSTM" else \
                hidden.squeeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        return x, hidden

    def _initial(self, hx, x, directions, batched):
        shape = (self.num_layers * directions, x.shape[1], self.hidden_size)
        if hx is None:
            h = zeros(shape, dtype=x.dtype, device=x.device)
            return h, h
        if self.mode == "LSTM":
            h, c = hx
        else:
            h, c = hx, None
        if not batched:
            h = h.unsqueeze(1)
            c = c.unsqueeze(1) if c is not None else None
        if tuple(h.shape) != shape:
            raise RuntimeError(f"Expected hidden size {shape}, got {list(h.shape)}")
        return h, c

    def _direction(self, x, state, w_ih, w_hh, b_ih, b_hh, reverse, mask):
        gi = F.linear(x, w_ih, b_ih)  # the input part of every step in one product
        steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
        if mask is None and len(steps):  # the whole direction as one node
            return sequence_node(self.mode, gi, state, w_hh, b_hh, steps)
        outputs = [None] * x.shape[0]
        for t in steps:
            new = _step(self.mode, gi[t], state, w_hh, b_hh)
            if mask is not None:  # finished sequences keep their state, output zeros
                m = mask[t]
                if self.mode == "LSTM":
                    new = (new[0] * m + state[0] * (1 - m), new[1] * m + state[1] * (1 - m))
                else:
                    new = new * m + state * (1 - m)
            state = new
            h = state[0] if self.mode == "LSTM" else state
            outputs[t] = h if mask is None else h * mask[t]
        return stack(outputs), state


def _inverse(permutation):
    from ...api.creation import arange
    return permutation.new_zeros(permutation.shape).scatter_(
        0, permutation, arange(permutation.numel(), device=permutation.device))


class RNN(RNNBase):
    def __init__(self, *args, **kwargs):
        nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if len(args) > 3:
            nonlinearity = args[3]
            args = args[:3] + args[4:]
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or "
                             f"'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", *args, **kwargs)


class LSTM(RNNBase):
    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    def __init__(self, *args, **kwargs):
        super().__init__("GRU", *args, **kwargs)
