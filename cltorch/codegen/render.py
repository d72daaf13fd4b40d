"""Render Mako templates from ``kernels_cl/`` for a dialect, memoised by their parameters."""
from __future__ import annotations

import functools
import importlib.util
import os

from mako.lookup import TemplateLookup

from .. import config


@functools.lru_cache(maxsize=None)
def _lookup() -> TemplateLookup:
    spec = importlib.util.find_spec("kernels_cl")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("cltorch's kernel templates (package kernels_cl) are not installed")
    directory = list(spec.submodule_search_locations)[0]
    return TemplateLookup(directories=[directory], strict_undefined=True,
                          input_encoding="utf-8")


def template_names() -> list[str]:
    """Every kernel template (the files not starting with ``_``, which are libraries)."""
    directory = _lookup().directories[0]
    return sorted(f for f in os.listdir(directory) if f.endswith(".mako") and f[0] != "_")


@functools.lru_cache(maxsize=4096)
def render(template: str, dialect, **params) -> str:
    """Source of ``template`` for ``dialect``; ``params`` must be hashable (memo key)."""
    source = _lookup().get_template(template).render(dialect=dialect, **params)
    return f"// cltorch {config.VERSION} {dialect.name} {template}\n{source.strip()}\n"

