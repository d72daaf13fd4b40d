"""Variable-length sequences: ``pad_sequence`` and ``PackedSequence`` with
``pack_padded_sequence`` / ``pad_packed_sequence`` / ``pack_sequence``, as in PyTorch."""
from __future__ import annotations

import collections

from ... import dtypes

_Packed = collections.namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices",
                                                   "unsorted_indices"])


class PackedSequence(_Packed):
    """Time-major packed data: ``data`` holds step 0 of every sequence, then step 1 of those
    still running, ...; ``batch_sizes[t]`` says how many run at step t."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = _invert(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        return type(self)(self.data.to(*args, **kwargs), self.batch_sizes,
                          None if self.sorted_indices is None else
                          self.sorted_indices.to(self.data.device),
                          None if self.unsorted_indices is None else
                          self.unsorted_indices.to(self.data.device))


def _invert(permutation):
    from ...api.creation import arange
    inverse = permutation.new_zeros(permutation.shape)
    return inverse.scatter_(0, permutation, arange(permutation.numel(),
                                                   device=permutation.device))


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors of different lengths (L_i, *) into (L_max, B, *) (or (B, L_max, *))."""
    from ...api.layout import stack
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        extra = longest - s.shape[0]
        if extra:
            filler = s.new_full((extra,) + tuple(s.shape[1:]), padding_value)
            from ...api.layout import cat
            s = cat([s, filler] if padding_side == "right" else [filler, s], 0)
        padded.append(s)
    return stack(padded, 0 if batch_first else 1)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded (T, B, *) batch (or (B, T, *)) of sequences with the given lengths."""
    from ...api.creation import tensor
    from ...api.layout import cat
    lengths = [int(v) for v in (lengths.tolist() if hasattr(lengths, "tolist") else lengths)]
    if enforce_sorted and any(a < b for a, b in zip(lengths, lengths[1:])):
        raise RuntimeError("`lengths` array must be sorted in decreasing order when "
                           "`enforce_sorted` is True. You can pass `enforce_sorted=False` to "
                           "pack_padded_sequence and/or pack_sequence to sidestep this "
                           "requirement if you do not need ONNX exportability.")
    if any(n <= 0 for n in lengths):
        raise RuntimeError("Length of all samples has to be greater than 0, but found an "
                           "element in 'lengths' that is <= 0")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    x = input.transpose(0, 1) if batch_first else input
    sorted_indices = None if enforce_sorted else tensor(order, dtype=dtypes.int64,
                                                        device=input.device)
    if sorted_indices is not None:
        x = x.index_select(1, sorted_indices)
    ordered = [lengths[i] for i in order]
    steps = []
    batch_sizes = []
    for t in range(ordered[0]):
        running = sum(1 for n in ordered if n > t)
        batch_sizes.append(running)
        steps.append(x[t, :running])
    return PackedSequence(cat(steps, 0), tensor(batch_sizes, dtype=dtypes.int64),
                          sorted_indices)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Undo pack_padded_sequence: (padded batch, lengths)."""
    from ...api.creation import tensor
    from ...api.layout import stack
    data, sizes = sequence.data, sequence.batch_sizes.tolist()
    batch = sizes[0]
    steps, start = [], 0
    for running in sizes:
        step = data[start:start + running]
        if running < batch:
            from ...api.layout import cat
            step = cat([step, step.new_full((batch - running,) + tuple(step.shape[1:]),
                                            padding_value)], 0)
        steps.append(step)
        start += running
    total = len(sizes) if total_length is None else total_length
    if total < len(sizes):
        raise ValueError(f"Expected total_length to be at least the length of the longest "
                         f"sequence in input, but got total_length={total_length} and max "
                         f"sequence length being {len(sizes)}")
    while len(steps) < total:
        steps.append(steps[0].new_full(tuple(steps[0].shape), padding_value))
    padded = stack(steps, 0)
    lengths = [sum(1 for running in sizes if running > b) for b in range(batch)]
    lengths = tensor(lengths, dtype=dtypes.int64)
    if sequence.unsorted_indices is not None:
        padded = padded.index_select(1, sequence.unsorted_indices)
        lengths = lengths.index_select(0, sequence.unsorted_indices.cpu())
    return (padded.transpose(0, 1) if batch_first else padded), lengths


def pack_sequence(sequences, enforce_sorted=True):
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths,
                                enforce_sorted=enforce_sorted)
