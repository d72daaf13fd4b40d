"""``cltorch.utils.checkpoint`` (``torch.utils.checkpoint``).

Activation checkpointing trades compute for memory: PyTorch frees a segment's activations and
recomputes them in backward. cltorch runs the segment normally and keeps its activations, so the
values and gradients are exactly those of PyTorch (only the memory saving is absent).
"""
from __future__ import annotations


def checkpoint(function, *args, use_reentrant=None, context_fn=None, determinism_check=None,
               debug=None, preserve_rng_state=True, **kwargs):
    """``function(*args, **kwargs)``, with the gradients PyTorch's checkpoint gives."""
    return function(*args, **kwargs)


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):
    """Run the modules of ``functions`` (a Sequential or list) one after another."""
    modules = list(functions.children()) if hasattr(functions, "children") else list(functions)
    for module in modules:
        input = module(input)
    return input
