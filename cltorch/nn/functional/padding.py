"""``pad``: constant, reflect, replicate and circular padding of the last dims."""
from __future__ import annotations


def pad(input, pad, mode="constant", value=None):
    """Pad the last ``len(pad) // 2`` dims; ``pad`` lists (before, after) from the last dim
    backwards, as in PyTorch. Negative amounts crop."""
    from ...api.creation import arange
    from ...api.layout import cat
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    dims = len(pad) // 2
    if dims > input.ndim:
        raise RuntimeError("Padding length should be less than or equal to two times the "
                           "input dimension")
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    out = input
    for k in range(dims):
        d = input.ndim - 1 - k
        before, after = int(pad[2 * k]), int(pad[2 * k + 1])
        size = out.shape[d]
        if before < 0:
            out, size, before = out.narrow(d, -before, size + before), size + before, 0
        if after < 0:
            out, size, after = out.narrow(d, 0, size + after), size + after, 0
        if not before and not after:
            continue
        if mode == "constant":
            shape = list(out.shape)
            parts = []
            for n in (before, after):
                shape[d] = n
                parts.append(out.new_full(tuple(shape), 0.0 if value is None else value))
            out = cat([parts[0], out, parts[1]], d)
            continue
        if mode == "reflect" and (before >= size or after >= size):
            raise RuntimeError(f"Argument #4: Padding size should be less than the "
                               f"corresponding input dimension, but got: padding ({before}, "
                               f"{after}) at dimension {d} of input {list(input.shape)}")
        positions = arange(-before, size + after, device=input.device)
        if mode == "reflect":
            period = 2 * (size - 1)
            positions = positions.abs() % period if period else positions * 0
            positions = (period - positions).minimum(positions) if period else positions
        elif mode == "replicate":
            positions = positions.clamp(0, size - 1)
        else:
            if before > size or after > size:
                raise RuntimeError("Padding value causes wrapping around more than once.")
            positions = positions % size
        out = out.index_select(d, positions)
    return out
