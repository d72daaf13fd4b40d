"""cltorch's Mako kernel templates, installed as cltorch.kernels_cl (setup.py; see cltorch.codegen.render)."""
