"""Render Mako templates from ``kernels_cl/`` for a dialect, memoised by their parameters."""
from __future__ import annotations

import functools
import os

from mako.lookup import TemplateLookup

from .. import config
from ..config import template_folder


@functools.lru_cache(maxsize=None)
def _lookup() -> TemplateLookup:
    return TemplateLookup(directories=[template_folder()], strict_undefined=True,
                          input_encoding="utf-8")


def template_names() -> list[str]:
    """Every kernel template (the files not starting with ``_``, which are libraries)."""
    directory = template_folder()
    return sorted(f for f in os.listdir(directory) if f.endswith(".mako") and f[0] != "_")


@functools.lru_cache(maxsize=4096)
def render(template: str, dialect, **params) -> str:
    """Source of ``template`` for ``dialect``; ``params`` must be hashable (memo key)."""
    source = _lookup().get_template(template).render(dialect=dialect, **params)
    return f"// cltorch {config.VERSION} {dialect.name} {template}\n{source.strip()}\n"

