"""Kernel source generation: Mako templates in ``kernels_cl/`` rendered for one dialect."""
from .dialect import CUDA, OPENCL, Dialect
from .render import numbered, render, template_names

__all__ = ["CUDA", "OPENCL", "Dialect", "numbered", "render", "template_names"]
