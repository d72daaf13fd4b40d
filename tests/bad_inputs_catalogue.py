"""The catalogue of bad inputs: each case is code that PyTorch refuses, with the exception type
(and words) PyTorch raises. ``python bad_inputs_catalogue.py DEVICE`` runs every case on DEVICE
and prints one JSON line per case; ``test_bad_inputs.py`` runs it in a child process so that a
crash or a hang fails the test, not the test run.

A case is ``name -> (fn(m, dev, other), exception type, regex)``: ``m`` is the library (cltorch,
or torch for the cross-check), ``dev`` the device under test, ``other`` another device (None
where there is only one).
"""
import json
import sys


def _t(m, dev, values, dtype=None):
    return m.tensor(values, dtype=dtype).to(dev)


CASES = {}


def case(name, error, match=""):
    def register(fn):
        CASES[name] = (fn, error, match)
        return fn
    return register


# ---- different devices: nothing moves silently ---------------------------------------------
_SAME = "Expected all tensors to be on the same device"
_TWO_DEVICE_OPS = {
    "add": lambda m, a, b: a + b,
    "mul_": lambda m, a, b: a.mul_(b),
    "matmul": lambda m, a, b: a.reshape(1, 3) @ b.reshape(3, 1),
    "where": lambda m, a, b: m.where(a > 0, a, b),
    "cat": lambda m, a, b: m.cat([a, b]),
    "stack": lambda m, a, b: m.stack([a, b]),
    "index_select": lambda m, a, b: a.index_select(0, b.long()),
    "gather": lambda m, a, b: a.gather(0, b.long()),
    "scatter src": lambda m, a, b: a.scatter(0, m.tensor([0, 1, 2]).to(a.device), b),
    "scatter index": lambda m, a, b: a.scatter(0, b.long(), 1.0),
    "index_add_": lambda m, a, b: a.index_add_(0, m.tensor([0, 1, 2]).to(a.device), b),
    "index_add_ index": lambda m, a, b: a.index_add_(0, b.long(), a),
    "embedding": lambda m, a, b: m.nn.functional.embedding(b.long(), a.reshape(3, 1)),
    "masked_fill": lambda m, a, b: a.masked_fill(b > 0, 1.0),
    "take": lambda m, a, b: m.take(a, b.long()),
    "maximum": lambda m, a, b: m.maximum(a, b),
}
for _name, _fn in _TWO_DEVICE_OPS.items():
    def _mixed(m, dev, other, fn=_fn):
        if other is None:
            raise RuntimeError(f"{_SAME} (one device only: nothing to mix)")
        return fn(m, _t(m, dev, [0.0, 1.0, 2.0]), _t(m, other, [0.0, 1.0, 2.0]))
    case(f"devices: {_name}", RuntimeError, _SAME)(_mixed)


@case("devices: optimizer state elsewhere", RuntimeError, _SAME)
def _(m, dev, other):
    if other is None:
        raise RuntimeError(f"{_SAME} (one device only)")
    p = m.nn.Parameter(_t(m, dev, [1.0, 2.0]))
    opt = m.optim.Adam([p])
    p.grad = _t(m, dev, [1.0, 1.0])
    opt.step()
    opt.state[p]["exp_avg"] = opt.state[p]["exp_avg"].to(other)
    opt.step()


# ---- in-place writes into overlapping memory -----------------------------------------------
_OVERLAP = "more than one element of the written-to tensor refers to a single memory location"
_INPLACE = {
    "add_": lambda x: x.add_(1), "mul_": lambda x: x.mul_(2), "copy_": lambda x: x.copy_(
        x.new_ones(tuple(x.shape))),
    "relu_": lambda x: x.relu_(), "clamp_": lambda x: x.clamp_(0, 1), "exp_": lambda x: x.exp_(),
    "sigmoid_": lambda x: x.sigmoid_(), "neg_": lambda x: x.neg_(),
    "scatter_": lambda x: x.scatter_(0, x.new_zeros(1).long(), 1.0),
    "out=": lambda x: __import__("cltorch" if type(x).__module__.startswith("cltorch")
                                 else "torch").add(x.new_ones(3), 1, out=x),
}
_LAYOUTS = {
    "expanded": lambda m, dev: _t(m, dev, [1.0]).expand(3),
    "expanded rows": lambda m, dev: _t(m, dev, [[1.0, 2.0]]).expand(3, 2),
    "stride 0": lambda m, dev: m.as_strided(_t(m, dev, [1.0, 2.0, 3.0]), (3,), (0,)),
}
for _op, _write in _INPLACE.items():
    for _layout, _make in _LAYOUTS.items():
        if _op in ("scatter_", "out=") and _layout != "expanded":
            continue
        case(f"overlap: {_op} into {_layout}", RuntimeError, _OVERLAP)(
            lambda m, dev, other, w=_write, mk=_make: w(mk(m, dev)))


# ---- indices out of range --------------------------------------------------------------------
_INDEX_OPS = {
    "gather": (lambda m, x, i: x.gather(0, i), RuntimeError),
    "index_select": (lambda m, x, i: x.index_select(0, i), IndexError),
    "embedding": (lambda m, x, i: m.nn.functional.embedding(i, x.reshape(3, 1)), IndexError),
    "take": (lambda m, x, i: m.take(x, i), (IndexError, RuntimeError)),
    "subscript": (lambda m, x, i: x[i], IndexError),
    "index_add_": (lambda m, x, i: x.index_add_(0, i, x[:1].expand(len(i)).clone()),
                   IndexError),
    "index_add_ 2-D": (lambda m, x, i: x.reshape(3, 1).index_add_(0, i, m.ones(
        len(i), 1).to(x.device)), RuntimeError),
    "index_copy_": (lambda m, x, i: x.index_copy_(0, i, x[:1].expand(len(i)).clone()),
                    IndexError),
    "index_fill_": (lambda m, x, i: x.index_fill_(0, i, 7.0), IndexError),
    "scatter_": (lambda m, x, i: x.scatter_(0, i, 1.0), RuntimeError),
    "scatter_add_": (lambda m, x, i: x.scatter_add_(0, i, x[:1].clone()), RuntimeError),
}
for _op, (_fn, _error) in _INDEX_OPS.items():
    for _bad in (3, 100, -4, 2 ** 40, -1):
        if _bad == -1 and _op in ("subscript", "take", "index_fill_"):
            continue  # these count negative indices from the end, as PyTorch
        case(f"index {_bad} out of range: {_op}", _error, "out of|index")(
            lambda m, dev, other, f=_fn, b=_bad: f(m, _t(m, dev, [1.0, 2.0, 3.0]),
                                                   _t(m, dev, [b], dtype=m.int64)))
for _target in (3, -1, 50):
    case(f"class target {_target}: nll_loss", IndexError, "out of bounds")(
        lambda m, dev, other, k=_target: m.nn.functional.nll_loss(
            _t(m, dev, [[0.1, 0.2, 0.7]] * 2), _t(m, dev, [0, k], dtype=m.int64)))
    case(f"class target {_target}: cross_entropy", IndexError, "out of bounds")(
        lambda m, dev, other, k=_target: m.nn.functional.cross_entropy(
            _t(m, dev, [[0.1, 0.2, 0.7]] * 2), _t(m, dev, [0, k], dtype=m.int64)))


# ---- creation ------------------------------------------------------------------------------
for _fn_name in ("zeros", "ones", "empty", "rand", "randn"):
    case(f"creation: {_fn_name}(-1)", RuntimeError, "negative dimension")(
        lambda m, dev, other, f=_fn_name: getattr(m, f)(-1, device=dev))
    case(f"creation: {_fn_name}(2, -3)", RuntimeError, "negative dimension")(
        lambda m, dev, other, f=_fn_name: getattr(m, f)(2, -3, device=dev))
case("creation: arange step 0", RuntimeError, "step must be nonzero")(
    lambda m, dev, other: m.arange(0, 5, 0, device=dev))
case("creation: randint low >= high", RuntimeError, "from")(
    lambda m, dev, other: m.randint(5, 5, (2,), device=dev))
case("creation: normal std < 0", RuntimeError, "std >= 0")(
    lambda m, dev, other: m.normal(0.0, -1.0, (2,), device=dev))
case("creation: full_like bad size", TypeError, "")(
    lambda m, dev, other: m.zeros(2, device=dev).view("a"))


_OVERFLOW = "value cannot be converted to type"
for _value, _dtype in ((300, "uint8"), (-300, "uint8"), (128, "int8"), (-129, "int8"),
                       (2 ** 15, "int16"), (2 ** 31, "int32"), (-2 ** 31 - 1, "int32")):
    case(f"creation: {_value} as {_dtype}", RuntimeError, _OVERFLOW)(
        lambda m, dev, other, v=_value, d=_dtype: m.tensor([v], dtype=getattr(m, d),
                                                            device=dev))
case("creation: 2**63 as int64", ValueError, "Overflow when unpacking long long")(
    lambda m, dev, other: m.tensor([2 ** 63], dtype=m.int64, device=dev))
case("creation: inf as int32", RuntimeError, _OVERFLOW)(
    lambda m, dev, other: m.tensor([float("inf")], dtype=m.int32, device=dev))
case("random: uniform_ from > to", RuntimeError, "range, but found from=2 > to=1")(
    lambda m, dev, other: m.empty(2, device=dev).uniform_(2, 1))
for _p in (1.5, -0.1, float("nan")):
    case(f"random: bernoulli_({_p})", RuntimeError, "expects p to be in")(
        lambda m, dev, other, p=_p: m.empty(2, device=dev).bernoulli_(p))
    case(f"random: bernoulli(x, p={_p})", RuntimeError, "expects p to be in")(
        lambda m, dev, other, p=_p: m.bernoulli(m.ones(2, device=dev), p=p))
for _pad in (-1, (0, -2)):
    case(f"layer: conv2d padding {_pad}", RuntimeError, "negative padding is not supported")(
        lambda m, dev, other, p=_pad: m.nn.functional.conv2d(
            m.ones(1, 1, 4, 4, device=dev), m.ones(1, 1, 2, 2, device=dev), padding=p))


# ---- shapes and layers ---------------------------------------------------------------------
case("shape: view incompatible", RuntimeError, "")(
    lambda m, dev, other: m.zeros(6, device=dev).view(4, 2))
case("shape: reshape incompatible", RuntimeError, "")(
    lambda m, dev, other: m.zeros(6, device=dev).reshape(5))
case("shape: matmul mismatch", RuntimeError, "cannot be multiplied")(
    lambda m, dev, other: m.zeros(2, 3, device=dev) @ m.zeros(2, 3, device=dev))
case("shape: broadcast mismatch", RuntimeError, "must match")(
    lambda m, dev, other: m.zeros(2, 3, device=dev) + m.zeros(4, device=dev))
case("shape: cat ranks differ", RuntimeError, "")(
    lambda m, dev, other: m.cat([m.zeros(2, device=dev), m.zeros(2, 2, device=dev)]))
case("shape: linear in_features", RuntimeError, "")(
    lambda m, dev, other: m.nn.Linear(3, 2).to(dev)(m.zeros(4, 5, device=dev)))
case("shape: conv2d channels", RuntimeError, "")(
    lambda m, dev, other: m.nn.Conv2d(3, 2, 3).to(dev)(m.zeros(1, 4, 5, 5, device=dev)))
case("shape: conv2d kernel bigger than input", RuntimeError, "")(
    lambda m, dev, other: m.nn.functional.conv2d(m.zeros(1, 1, 2, 2, device=dev),
                                                 m.zeros(1, 1, 3, 3, device=dev)))
case("shape: squeeze dim out of range", IndexError, "Dimension out of range")(
    lambda m, dev, other: m.zeros(2, device=dev).squeeze(3))
case("shape: sum dim out of range", IndexError, "Dimension out of range")(
    lambda m, dev, other: m.zeros(2, device=dev).sum(2))
case("grad: backward of a non-scalar", RuntimeError, "grad can be implicitly created only")(
    lambda m, dev, other: (m.ones(2, device=dev, requires_grad=True) * 2).backward())
case("grad: leaf in place", RuntimeError, "leaf Variable that requires grad")(
    lambda m, dev, other: m.ones(2, device=dev, requires_grad=True).add_(1))
case("grad: assigned of another size", RuntimeError, "different size")(
    lambda m, dev, other: setattr(m.nn.Parameter(m.ones(2, device=dev)), "grad",
                                  m.ones(3, device=dev)))
case("dtype: float-only op on ints", RuntimeError, "")(
    lambda m, dev, other: m.ones(2, dtype=m.int64, device=dev).softmax(0))
case("dtype: cross_entropy float targets of the wrong shape", RuntimeError, "")(
    lambda m, dev, other: m.nn.functional.cross_entropy(m.zeros(2, 3, device=dev),
                                                        m.zeros(2, 2, device=dev)))


def run(device: str) -> None:
    import cltorch
    from cltorch.backend import registry
    others = [n for n in ["cpu"] + [f"opencl:{i}" for i in range(
        registry.device_count("opencl"))] if n != device]
    other = others[0] if others else None
    for name, (fn, error, _match) in CASES.items():
        try:
            fn(cltorch, device, other)
            outcome = {"case": name, "raised": None, "message": ""}
        except Exception as exc:  # the test compares the type and the words
            outcome = {"case": name, "raised": type(exc).__name__, "message": str(exc)[:300],
                       "is_expected": isinstance(exc, error)}
        print(json.dumps(outcome), flush=True)


if __name__ == "__main__":
    run(sys.argv[1])
