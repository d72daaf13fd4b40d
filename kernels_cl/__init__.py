"""cltorch's Mako kernel templates, shipped as package data (see cltorch.codegen.render)."""
