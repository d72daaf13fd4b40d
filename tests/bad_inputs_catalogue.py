"""The catalogue of bad inputs: each case is code that PyTorch refuses, with the exception type
(and words) PyTorch raises. ``python bad_inputs_catalogue.py DEVICE`` runs every case on DEVICE
and prints one JSON line per case; ``test_bad_inputs.py`` runs it in a child process so that a
crash or a hang fails the test, not the test run.

A case is ``name -> (fn(m, dev, other), exception type, regex)``: ``m`` is the library (cltorch,
or torch for the cross-check), ``dev`` the device under test, ``other`` another device (None
where there is only one). A case whose type is ``Exception`` takes its type from PyTorch: the
test runs it there and requires cltorch's exception to be of PyTorch's type (or a subclass).
"""
import json
import re
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
_RANDOM_ARGS = {
    "normal_ std -1": lambda m, dev: m.zeros(2, device=dev).normal_(0, -1),
    "normal(tensor, -1.0)": lambda m, dev: m.normal(m.zeros(2, device=dev), -1.0),
    "normal(0, tensor std -1)": lambda m, dev: m.normal(0.0, _t(m, dev, [1.0, -1.0])),
    "normal(tensor, tensor std nan)": lambda m, dev: m.normal(
        m.zeros(1, device=dev), _t(m, dev, [float("nan")])),
    "exponential_ lambda 0": lambda m, dev: m.zeros(2, device=dev).exponential_(0),
    "exponential_ lambda -1.5": lambda m, dev: m.zeros(2, device=dev).exponential_(-1.5),
    "log_normal_ std -1": lambda m, dev: m.zeros(2, device=dev).log_normal_(0, -1),
    "cauchy_ sigma 0": lambda m, dev: m.zeros(2, device=dev).cauchy_(0, 0),
    "geometric_ p 1.5": lambda m, dev: m.zeros(2, device=dev).geometric_(1.5),
    "geometric_ p 0": lambda m, dev: m.zeros(2, device=dev).geometric_(0),
    "random_ from > to": lambda m, dev: m.zeros(2, device=dev).random_(5, 2),
    "rand int64": lambda m, dev: m.rand(2, dtype=m.int64, device=dev),
    "randn_like int64": lambda m, dev: m.randn_like(_t(m, dev, [1, 2])),
}
for _name, _fn in _RANDOM_ARGS.items():
    case(f"random: {_name}", Exception, "")(lambda m, dev, other, f=_fn: f(m, dev))

# values only the device holds: checked there, raised at the next synchronisation
_PROB = "Expected p_in >= 0 && p_in <= 1 to be true"
_WEIGHTS = "probability tensor contains either `inf`, `nan` or element < 0"
for _p in (1.5, -0.1, float("nan")):
    case(f"values: bernoulli(tensor {_p})", RuntimeError, _PROB)(
        lambda m, dev, other, p=_p: m.bernoulli(_t(m, dev, [0.5, p])))
    case(f"values: bernoulli_(tensor {_p})", RuntimeError, _PROB)(
        lambda m, dev, other, p=_p: m.zeros(2, device=dev).bernoulli_(_t(m, dev, [p, 0.5])))
    for _arg in ("input", "target"):
        case(f"values: binary_cross_entropy {_arg} {_p}", RuntimeError,
             f"all elements of {_arg} should be between 0 and 1")(
            lambda m, dev, other, p=_p, a=_arg: m.nn.functional.binary_cross_entropy(
                *((_t(m, dev, [0.5, p]), _t(m, dev, [0.5, 0.5]))[::1 if a == "input" else -1])))
for _w in (-1.0, float("inf"), float("nan")):
    for _replace in (False, True):
        case(f"values: multinomial weight {_w} replacement={_replace}", RuntimeError,
             re.escape(_WEIGHTS))(
            lambda m, dev, other, w=_w, r=_replace: m.multinomial(_t(m, dev, [1.0, w]), 1, r))
for _replace in (False, True):
    case(f"values: multinomial zero row replacement={_replace}", RuntimeError,
         "sum of probabilities <= 0")(
        lambda m, dev, other, r=_replace: m.multinomial(_t(m, dev, [[1.0, 1.0], [0.0, 0.0]]),
                                                        1, r))
for _k in (-1, 3):
    case(f"values: one_hot class {_k}", RuntimeError, "Class values must be")(
        lambda m, dev, other, k=_k: m.nn.functional.one_hot(_t(m, dev, [0, k]), 3))
case("values: cross_entropy target on a 3-D input", IndexError, "out of bounds")(
    lambda m, dev, other: m.nn.functional.cross_entropy(m.zeros(2, 3, 4, device=dev),
                                                        _t(m, dev, [[0, 1, 2, 7]] * 2)))
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


# ---- layer and optimizer arguments, reductions, dtype rules --------------------------------
_LAYER_ARGS = {
    "Conv2d stride 0": lambda m: m.nn.Conv2d(1, 1, 3, stride=0)(m.ones(1, 1, 5, 5)),
    "Conv2d groups": lambda m: m.nn.Conv2d(3, 4, 3, groups=2),
    "Conv2d padding mode": lambda m: m.nn.Conv2d(1, 1, 3, padding_mode="mirror"),
    "Linear negative features": lambda m: m.nn.Linear(-1, 2),
    "Dropout p > 1": lambda m: m.nn.Dropout(1.5),
    "Dropout p < 0": lambda m: m.nn.Dropout(-0.1),
    "dropout p > 1": lambda m: m.nn.functional.dropout(m.ones(2), 1.5),
    "LayerNorm shape": lambda m: m.nn.LayerNorm(4)(m.ones(2, 3)),
    "BatchNorm channels": lambda m: m.nn.BatchNorm1d(3)(m.ones(4, 5)),
    "MaxPool2d kernel 0": lambda m: m.nn.functional.max_pool2d(m.ones(1, 1, 4, 4), 0),
    "MaxPool2d padding too big": lambda m: m.nn.functional.max_pool2d(m.ones(1, 1, 4, 4), 2,
                                                                       padding=2),
    "AdaptiveAvgPool2d empty plane": lambda m: m.nn.functional.adaptive_avg_pool2d(
        m.ones(2, 3, 0, 4), (2, 3)),
    "AdaptiveMaxPool2d negative size": lambda m: m.nn.functional.adaptive_max_pool2d(
        m.ones(1, 2, 5, 7), (-1, 3)),
    "AdaptiveMaxPool2d three sizes": lambda m: m.nn.functional.adaptive_max_pool2d(
        m.ones(1, 2, 5, 7), (2, 3, 4)),
    "AdaptiveAvgPool2d 2-D input": lambda m: m.nn.functional.adaptive_avg_pool2d(
        m.ones(5, 7), (2, 3)),
    "AdaptiveAvgPool2d 5-D input": lambda m: m.nn.functional.adaptive_avg_pool2d(
        m.ones(1, 2, 3, 5, 7), 2),
    "AdaptiveMaxPool1d 1-D input": lambda m: m.nn.functional.adaptive_max_pool1d(m.ones(5), 2),
    "AdaptiveAvgPool2d of ints": lambda m: m.nn.functional.adaptive_avg_pool2d(
        m.ones(1, 2, 5, 5, dtype=m.int64), 3),
    "Embedding index float": lambda m: m.nn.Embedding(3, 2)(m.tensor([0.5])),
    "MultiheadAttention heads": lambda m: m.nn.MultiheadAttention(10, 3),
    "Upsample both": lambda m: m.nn.functional.interpolate(m.ones(1, 1, 2, 2), size=4,
                                                           scale_factor=2),
    "pad odd length": lambda m: m.nn.functional.pad(m.ones(2, 2), (1,)),
    "unflatten sizes": lambda m: m.ones(2, 6).unflatten(1, (4, 2)),
    "SGD lr < 0": lambda m: m.optim.SGD([m.nn.Parameter(m.ones(1))], lr=-1),
    "Adam beta": lambda m: m.optim.Adam([m.nn.Parameter(m.ones(1))], betas=(1.5, 0.9)),
    "Adam eps": lambda m: m.optim.Adam([m.nn.Parameter(m.ones(1))], eps=-1.0),
    "AdamW weight decay": lambda m: m.optim.AdamW([m.nn.Parameter(m.ones(1))],
                                                  weight_decay=-1.0),
    "SGD nesterov without momentum": lambda m: m.optim.SGD([m.nn.Parameter(m.ones(1))],
                                                           lr=0.1, nesterov=True),
    "optimizer empty": lambda m: m.optim.SGD([], lr=0.1),
    "optimizer non-leaf": lambda m: m.optim.SGD([m.ones(1, requires_grad=True) * 2], lr=0.1),
    "StepLR step_size": lambda m: m.optim.lr_scheduler.StepLR(
        m.optim.SGD([m.nn.Parameter(m.ones(1))], lr=0.1), step_size=0).step(),
    "DataLoader batch_size 0": lambda m: m.utils.data.DataLoader([1, 2], batch_size=0),
    "DataLoader workers < 0": lambda m: m.utils.data.DataLoader([1, 2], num_workers=-1),
    "random_split lengths": lambda m: m.utils.data.random_split(range(5), [2, 2]),
    "mean of ints": lambda m: m.ones(2, dtype=m.int64).mean(),
    "std of ints": lambda m: m.ones(2, dtype=m.int64).std(),
    "softmax dim out of range": lambda m: m.ones(2, 3).softmax(2),
    "cumsum dim out of range": lambda m: m.ones(2).cumsum(1),
    "topk k too big": lambda m: m.ones(3).topk(4),
    "kthvalue k too big": lambda m: m.ones(3).kthvalue(4),
    "argmax dim": lambda m: m.ones(2).argmax(1),
    "permute repeated dims": lambda m: m.ones(2, 3).permute(0, 0),
    "permute too few dims": lambda m: m.ones(2, 3).permute(0),
    "transpose dim": lambda m: m.ones(2, 3).transpose(0, 2),
    "expand smaller": lambda m: m.ones(2, 3).expand(3, 3),
    "narrow past end": lambda m: m.ones(4).narrow(0, 2, 3),
    "select index": lambda m: m.ones(2, 3).select(1, 3),
    "split size 0": lambda m: m.ones(4).split(0),
    "chunk 0": lambda m: m.ones(4).chunk(0),
    "stack shapes": lambda m: m.stack([m.ones(2), m.ones(3)]),
    "cat empty list": lambda m: m.cat([]),
    "repeat fewer dims": lambda m: m.ones(2, 3).repeat(2),
    "flatten dims": lambda m: m.ones(2, 3).flatten(1, 0),
    "view -1 twice": lambda m: m.ones(6).view(-1, -1),
    "reshape non-integer": lambda m: m.ones(6).reshape(2.5, 2),
    "bitwise on floats": lambda m: m.ones(2) & m.ones(2),
    "shift on floats": lambda m: m.ones(2) << 1,
    "float remainder by int tensor ok, bool sub": lambda m: m.ones(2, dtype=m.bool) - True,
    "neg of bool": lambda m: -m.ones(2, dtype=m.bool),
    "cross_entropy target shape": lambda m: m.nn.functional.cross_entropy(m.ones(2, 3),
                                                                          m.tensor([0, 1, 2])),
    "nll_loss float target": lambda m: m.nn.functional.nll_loss(m.ones(2, 3), m.ones(2)),
    "mse shapes": lambda m: m.nn.functional.mse_loss(m.ones(2), m.ones(3)),
    "bce shapes": lambda m: m.nn.functional.binary_cross_entropy(m.full((2,), 0.5),
                                                                 m.full((3,), 0.5)),
    "one_hot negative": lambda m: m.nn.functional.one_hot(m.tensor([-1]), 3),
    "one_hot too big": lambda m: m.nn.functional.one_hot(m.tensor([3]), 3),
    "multinomial 3-D": lambda m: m.multinomial(m.ones(2, 2, 2), 1),
    "multinomial too many": lambda m: m.multinomial(m.ones(3), 4),
    "randperm negative": lambda m: m.randperm(-1),
    "linspace negative steps": lambda m: m.linspace(0, 1, -1),
    "eye negative": lambda m: m.eye(-1),
    "full wrong size type": lambda m: m.full("a", 1.0),
    "arange wrong direction": lambda m: m.arange(5, 0, 1),
    "tensor ragged": lambda m: m.tensor([[1, 2], [3]]),
    "tensor of strings": lambda m: m.tensor(["a"]),
    "item of many": lambda m: m.ones(2).item(),
    "bool of many": lambda m: bool(m.ones(2)),
    "int of many": lambda m: int(m.ones(2)),
    "numpy of grad tensor": lambda m: m.ones(2, requires_grad=True).numpy(),
    "backward twice": lambda m: (lambda y: (y.backward(retain_graph=False), y.backward()))(
        (m.ones(2, requires_grad=True) * m.ones(2, requires_grad=True)).sum()),
    "grad of non-requiring": lambda m: m.autograd.grad(m.ones(2).sum(), m.ones(2)),
    "requires_grad on int": lambda m: m.ones(2, dtype=m.int64).requires_grad_(),
    "load_state_dict missing": lambda m: m.nn.Linear(2, 2).load_state_dict({}),
    "load_state_dict shape": lambda m: m.nn.Linear(2, 2).load_state_dict(
        {"weight": m.ones(3, 3), "bias": m.ones(2)}),
    "Module attribute": lambda m: m.nn.Linear(2, 2).nonexistent,
    "add_module bad name": lambda m: m.nn.Module().add_module("a.b", m.nn.ReLU()),
    "Parameter as buffer name clash": lambda m: (lambda mod: (mod.register_buffer(
        "weight", m.ones(1))))(m.nn.Linear(1, 1)),
    "Sequential index": lambda m: m.nn.Sequential(m.nn.ReLU())[3],
    "ModuleList index": lambda m: m.nn.ModuleList([m.nn.ReLU()])[2],
    "clip_grad_norm nonfinite": lambda m: (lambda p: (setattr(p, "grad", m.full((1,), float(
        "inf"))), m.nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)))(
        m.nn.Parameter(m.ones(1))),
}
for _name, _fn in _LAYER_ARGS.items():
    case(f"args: {_name}", Exception, "")(lambda m, dev, other, f=_fn: f(m))

# dims out of range, for every op taking a dim (PyTorch: IndexError "Dimension out of range")
_DIM_OPS = {
    "sum": lambda x, d: x.sum(d), "mean": lambda x, d: x.mean(d), "prod": lambda x, d: x.prod(d),
    "amax": lambda x, d: x.amax(d), "amin": lambda x, d: x.amin(d),
    "argmax": lambda x, d: x.argmax(d), "argmin": lambda x, d: x.argmin(d),
    "max": lambda x, d: x.max(d), "min": lambda x, d: x.min(d), "std": lambda x, d: x.std(d),
    "var": lambda x, d: x.var(d), "logsumexp": lambda x, d: x.logsumexp(d),
    "cumsum": lambda x, d: x.cumsum(d), "cumprod": lambda x, d: x.cumprod(d),
    "softmax": lambda x, d: x.softmax(d), "log_softmax": lambda x, d: x.log_softmax(d),
    "all": lambda x, d: x.all(d), "any": lambda x, d: x.any(d),
    "median": lambda x, d: x.median(d), "sort": lambda x, d: x.sort(d),
    "argsort": lambda x, d: x.argsort(d), "topk": lambda x, d: x.topk(1, d),
    "flip": lambda x, d: x.flip(d), "roll": lambda x, d: x.roll(1, d),
    "squeeze": lambda x, d: x.squeeze(d), "unsqueeze": lambda x, d: x.unsqueeze(d + 1 if d >= 0 else d - 1),
    "transpose": lambda x, d: x.transpose(0, d), "narrow": lambda x, d: x.narrow(d, 0, 1),
    "select": lambda x, d: x.select(d, 0), "chunk": lambda x, d: x.chunk(2, d),
    "split": lambda x, d: x.split(1, d), "movedim": lambda x, d: x.movedim(0, d),
    "flatten": lambda x, d: x.flatten(0, d), "index_select": lambda x, d: x.index_select(
        d, x.new_zeros(1).long()), "gather": lambda x, d: x.gather(d, x.long() * 0),
    "cat": lambda x, d: __import__(type(x).__module__.split(".")[0]).cat([x, x], d),
    "stack": lambda x, d: __import__(type(x).__module__.split(".")[0]).stack(
        [x, x], d + 1 if d >= 0 else d - 1),
    "norm": lambda x, d: x.norm(dim=d), "count_nonzero": lambda x, d: x.count_nonzero(d),
    "unbind": lambda x, d: x.unbind(d), "diagonal": lambda x, d: x.diagonal(0, 0, d),
}
for _op, _fn in _DIM_OPS.items():
    for _d in (2, -3):
        case(f"dim {_d}: {_op}", IndexError, "Dimension out of range")(
            lambda m, dev, other, f=_fn, d=_d: f(m.ones(2, 3, device=dev), d))

_PRODUCTS = {
    "mm": lambda m, dev: m.mm(m.ones(2, 3, device=dev), m.ones(2, 3, device=dev)),
    "mm 1-D": lambda m, dev: m.mm(m.ones(3, device=dev), m.ones(3, 2, device=dev)),
    "bmm batch": lambda m, dev: m.bmm(m.ones(2, 2, 3, device=dev), m.ones(3, 3, 2, device=dev)),
    "bmm 2-D": lambda m, dev: m.bmm(m.ones(2, 3, device=dev), m.ones(3, 2, device=dev)),
    "mv": lambda m, dev: m.mv(m.ones(2, 3, device=dev), m.ones(2, device=dev)),
    "dot sizes": lambda m, dev: m.dot(m.ones(2, device=dev), m.ones(3, device=dev)),
    "dot 2-D": lambda m, dev: m.dot(m.ones(2, 2, device=dev), m.ones(2, 2, device=dev)),
    "matmul 0-D": lambda m, dev: m.matmul(m.ones((), device=dev), m.ones(2, device=dev)),
    "addmm": lambda m, dev: m.addmm(m.ones(2, 2, device=dev), m.ones(2, 3, device=dev),
                                    m.ones(2, 2, device=dev)),
    "einsum subscripts": lambda m, dev: m.einsum("ij,jk->ik", m.ones(2, 3, device=dev)),
    "einsum rank": lambda m, dev: m.einsum("ij->i", m.ones(2, device=dev)),
    "linear weight": lambda m, dev: m.nn.functional.linear(m.ones(2, 3, device=dev),
                                                           m.ones(4, 2, device=dev)),
}
for _name, _fn in _PRODUCTS.items():
    case(f"product: {_name}", Exception, "")(lambda m, dev, other, f=_fn: f(m, dev))

for _fn_name in ("zeros_like", "ones_like", "rand_like", "randn_like", "empty_like"):
    case(f"creation: {_fn_name} bad dtype", Exception, "")(
        lambda m, dev, other, f=_fn_name: getattr(m, f)(m.ones(2, device=dev), dtype="x"))
for _bad_size in ((2, -1), (-2,), (3, -4, 2)):
    case(f"creation: full{_bad_size}", RuntimeError, "negative dimension")(
        lambda m, dev, other, b=_bad_size: m.full(b, 1.0, device=dev))
    case(f"creation: randint size {_bad_size}", RuntimeError, "negative dimension")(
        lambda m, dev, other, b=_bad_size: m.randint(0, 5, b, device=dev))


def run(device: str) -> None:
    import cltorch
    from cltorch.backend import registry
    others = [n for n in ["cpu"] + [f"opencl:{i}" for i in range(
        registry.device_count("opencl"))] if n != device]
    other = others[0] if others else None
    for name, (fn, error, _match) in CASES.items():
        try:
            fn(cltorch, device, other)
            for name_ in {device, other} - {None}:  # device-side checks raise at a sync
                registry.get(name_).synchronize()
            outcome = {"case": name, "raised": None, "message": ""}
        except Exception as exc:  # the test compares the type and the words
            outcome = {"case": name, "raised": type(exc).__name__, "message": str(exc)[:300],
                       "is_expected": isinstance(exc, error),
                       "mro": [c.__name__ for c in type(exc).__mro__]}
        print(json.dumps(outcome), flush=True)


if __name__ == "__main__":
    run(sys.argv[1])
