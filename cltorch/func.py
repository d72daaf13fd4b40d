"""``cltorch.func`` (``torch.func``): ``functional_call``; the transforms (vmap, grad,
jacrev...) are not implemented (``torch.autograd.functional`` has jacobian and hessian)."""
from __future__ import annotations


def functional_call(module, parameter_and_buffer_dicts, args=(), kwargs=None, *,
                    tie_weights=True, strict=False):
    """Call ``module`` with some parameters and buffers replaced by the given tensors."""
    dicts = parameter_and_buffer_dicts
    values = {}
    for d in (dicts if isinstance(dicts, (list, tuple)) else [dicts]):
        values.update(d)
    args = args if isinstance(args, tuple) else (args,)
    saved = {}
    try:
        for name, value in values.items():
            owner, _, attr = name.rpartition(".")
            sub = module.get_submodule(owner)
            table = sub._parameters if attr in sub._parameters else sub._buffers
            saved[name] = (table, attr, table[attr])
            table[attr] = value
        return module(*args, **(kwargs or {}))
    finally:
        for table, attr, old in saved.values():
            table[attr] = old


def _not_implemented(name):
    def fn(*args, **kwargs):
        raise NotImplementedError(f"torch.func.{name} is not supported by cltorch")
    fn.__name__ = name
    return fn


vmap = _not_implemented("vmap")
grad = _not_implemented("grad")
grad_and_value = _not_implemented("grad_and_value")
jacrev = _not_implemented("jacrev")
jacfwd = _not_implemented("jacfwd")
hessian = _not_implemented("hessian")
vjp = _not_implemented("vjp")
jvp = _not_implemented("jvp")
