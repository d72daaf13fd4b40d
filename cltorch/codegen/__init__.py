"""Kernel source generation: Mako templates in ``kernels_cl/`` rendered for one dialect."""
from .dialect import CUDA, DIALECTS, OPENCL, Dialect
from .render import render, template_names

__all__ = ["CUDA", "DIALECTS", "OPENCL", "Dialect", "render", "template_names"]
