"""Memory planned ahead for a captured launch list: an intermediate buffer whose last use has
passed hands its memory to the next intermediate that needs no more bytes, so a graph holds
about what one eager step's peak held instead of every intermediate at once.

The queue runs the steps in order, so a buffer read last by step i can be written from step
i + 1 on. Only the graph's own intermediates are planned: a buffer that Python still holds (an
output, a gradient, a module's tensor, a saved tensor), or that was made before the capture,
keeps its own memory.
"""
from __future__ import annotations

import bisect

from ..backend.capture import Launch, Upload
from ..ops.array import Storage


def _buffers(step):
    if type(step) is Launch:
        return step.buffers()
    if type(step) is Upload:
        return [step.buffer]
    return []


def plan(steps: list, sizes: dict, held: set) -> int:
    """Rewrite the steps' buffer arguments so that intermediates share memory; ``sizes``:
    id(buffer) -> bytes of the buffers made inside the region. Returns the bytes saved."""
    first, last, objects = {}, {}, {}
    for i, step in enumerate(steps):
        for b in _buffers(step):
            key = id(b)
            if key in sizes and key not in held:
                first.setdefault(key, i)
                last[key] = i
                objects[key] = b
    starts = sorted(first, key=first.get)
    ends = sorted(last, key=last.get)
    free = []          # (bytes, order, buffer) of memory whose intermediate is done
    mapping, saved, done, order = {}, 0, 0, 0
    for key in starts:
        i = first[key]
        while done < len(ends) and last[ends[done]] < i:
            ended = ends[done]
            target = mapping.get(ended, objects[ended])
            order += 1
            bisect.insort(free, (sizes[id(target)], order, target))
            done += 1
        need = sizes[key]
        spot = bisect.bisect_left(free, (need, -1))
        if spot < len(free) and free[spot][0] <= 2 * need:  # no huge block for a small one
            mapping[key] = free.pop(spot)[2]
            saved += need
    if mapping:
        for step in steps:
            if type(step) is Launch:
                step.args = [mapping.get(id(a), a) for a in step.args]
            elif type(step) is Upload:
                step.buffer = mapping.get(id(step.buffer), step.buffer)
    return saved


def fresh_on(like, slots: list):
    """A new tensor laid out as ``like`` on a new buffer, put in the launch ``slots`` (step,
    argument index) where ``like``'s buffer was: a replay's output or gradient, written
    where the capture's was instead of copied from it."""
    storage = like._storage
    buffer = storage.device.allocate(storage.nbytes)
    for step, k in slots:
        step.put(k, buffer)
    return type(like)._make(Storage(storage.device, buffer, storage.nbytes), like._shape,
                            like._strides, like._offset, like.dtype)
