"""Render Mako templates from ``kernels_cl/`` for a dialect, memoised by their parameters."""
from __future__ import annotations

import functools
import importlib.util
import os

from mako.lookup import TemplateLookup

from .. import config


@functools.lru_cache(maxsize=None)
def _lookup() -> TemplateLookup:
    return TemplateLookup(directories=[template_folder()], strict_undefined=True,
                          input_encoding="utf-8")


def template_folder() -> str:
    """Where the templates are: ``cltorch.kernels_cl`` once installed, else the source
    tree's top-level ``kernels_cl/`` beside ``cltorch/``."""
    spec = importlib.util.find_spec("cltorch.kernels_cl")
    if spec is not None and spec.submodule_search_locations:
        return list(spec.submodule_search_locations)[0]
    source = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "kernels_cl")
    if not os.path.isdir(source):
        raise RuntimeError("cltorch's kernel templates (cltorch.kernels_cl) are not installed")
    return source


def template_names() -> list[str]:
    """Every kernel template (the files not starting with ``_``, which are libraries)."""
    directory = template_folder()
    return sorted(f for f in os.listdir(directory) if f.endswith(".mako") and f[0] != "_")


@functools.lru_cache(maxsize=4096)
def render(template: str, dialect, **params) -> str:
    """Source of ``template`` for ``dialect``; ``params`` must be hashable (memo key)."""
    source = _lookup().get_template(template).render(dialect=dialect, **params)
    return f"// cltorch {config.VERSION} {dialect.name} {template}\n{source.strip()}\n"

