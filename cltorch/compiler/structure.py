"""The structure of a region's arguments and results: nested tuples, lists, dicts and named
tuples flattened to a list of leaves (tensors and other values) and made again."""
from __future__ import annotations


def flatten(obj, leaves: list):
    """The structure of ``obj`` (tuples, lists, dicts, named tuples of anything) with its
    leaves appended to ``leaves``; ``rebuild(spec, leaves)`` makes it again."""
    kind = type(obj)
    if kind in (tuple, list) or (isinstance(obj, tuple) and hasattr(obj, "_fields")):
        return (kind, [flatten(item, leaves) for item in obj])
    if kind is dict:
        return (dict, [(key, flatten(value, leaves)) for key, value in obj.items()])
    leaves.append(obj)
    return len(leaves) - 1


def rebuild(spec, leaves: list):
    if isinstance(spec, int):
        return leaves[spec]
    kind, items = spec
    if kind is dict:
        return {key: rebuild(value, leaves) for key, value in items}
    values = [rebuild(item, leaves) for item in items]
    return kind(*values) if hasattr(kind, "_fields") else kind(values)
