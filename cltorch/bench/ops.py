"""The op cases: pointwise, reductions, softmax, matmul, convolution, pooling, normalisation,
embedding, loss, an optimizer step, the host cost of a tiny op and host<->device copies.

A Case's ``build(target)`` allocates its operands on the target and returns the call to time
(None where the target does not run it: NumPy has no convolution, CLBlast only matmul).
``flops`` and ``bytes`` give the derived GFLOP/s and GB/s."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass
class Case:
    name: str            # unique, e.g. "matmul 1024"
    family: str          # pointwise, reduction, matmul, conv, ... model
    size: float          # the x of the plots (elements, n of an n-cube matmul...)
    build: Callable
    flops: float = 0.0
    bytes: float = 0.0
    compiles: bool = False  # also measured under cltorch.compile (a "cltorch compiled" target)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _floats(*shape, seed=0):
    return _rng(seed).standard_normal(shape).astype(np.float32)


def _tensor_api(target) -> bool:
    return target.kind in ("cltorch", "torch")


# ---- pointwise and reductions: every target but CLBlast --------------------------------------

def _pointwise(name, fn_tensor, fn_numpy, n, reads, flops_per):
    def build(t):
        if t.is_raw:
            return None
        a, b = t.array(_floats(n, seed=1)), t.array(_floats(n, seed=2))
        fn = fn_numpy if t.kind == "numpy" else fn_tensor
        if t.compiled:
            compiled = t.lib.compile(lambda a, b: fn(t.lib, a, b))
            return lambda: compiled(a, b)
        return lambda: fn(t.lib, a, b)
    return Case(f"{name} {n}", "pointwise", n, build, flops_per * n, (reads + 1) * 4 * n,
                compiles=True)


def _chain(m, a, b):  # eight pointwise ops, each a pass over memory in eager mode
    return ((a * b + a).relu() * 0.5 - b).abs().sqrt() + a


def _chain_numpy(np_, a, b):
    return np.sqrt(np.abs(np.maximum(a * b + a, 0) * 0.5 - b)) + a


POINTWISE = [
    ("add", lambda m, a, b: a + b, lambda np_, a, b: a + b, 2, 1),
    ("mul", lambda m, a, b: a * b, lambda np_, a, b: a * b, 2, 1),
    ("where", lambda m, a, b: m.where(a > b, a, b), lambda np_, a, b: np.where(a > b, a, b), 2, 1),
    ("chain of 8", _chain, _chain_numpy, 2, 8),
]


def _reduction(name, rows, cols, dim):
    axis = {"full": None, "rows": 1, "columns": 0}[dim]

    def build(t):
        if t.is_raw:
            return None
        a = t.array(_floats(rows, cols))
        return lambda: a.sum() if axis is None else a.sum(axis)  # NumPy's and torch's API
    return Case(f"{name} {dim} {rows}x{cols}", "reduction", rows * cols, build, rows * cols,
                4 * rows * cols)


def _softmax(rows, cols, log):
    def build(t):
        if t.is_raw:
            return None
        a = t.array(_floats(rows, cols))
        if t.kind == "numpy":
            def numpy_softmax():
                e = np.exp(a - a.max(1, keepdims=True))
                s = e.sum(1, keepdims=True)
                return np.log(e / s) if log else e / s
            return numpy_softmax
        return (lambda: a.log_softmax(1)) if log else (lambda: a.softmax(1))
    name = "log_softmax" if log else "softmax"
    return Case(f"{name} rows {rows}x{cols}", "softmax", rows * cols, build, 5 * rows * cols,
                8 * rows * cols)


# ---- matmul: square, skinny, batched, transposed operands -------------------------------------

def _matmul(m, n, k, batch=0, transposed=False, label=None):
    def build(t):
        if t.kind == "pyopencl" or (t.kind == "clblast" and (batch or transposed)):
            return None
        shape_a = (batch, m, k) if batch else (m, k)
        shape_b = (batch, k, n) if batch else (k, n)
        if transposed:  # A^T @ B^T from stored (k, m) and (n, k)
            a = t.array(_floats(*shape_a[:-2], k, m, seed=1))
            b = t.array(_floats(*shape_b[:-2], n, k, seed=2))
            if t.kind == "numpy":
                return lambda: np.swapaxes(a, -1, -2) @ np.swapaxes(b, -1, -2)
            return lambda: a.transpose(-1, -2) @ b.transpose(-1, -2)
        a, b = t.array(_floats(*shape_a, seed=1)), t.array(_floats(*shape_b, seed=2))
        return lambda: t.lib.matmul(a, b)
    flops = 2.0 * m * n * k * max(batch, 1)
    name = label or (f"matmul {m}" if m == n == k else f"matmul {m}x{n}x{k}")
    return Case(name, "matmul", m, build, flops, 4.0 * max(batch, 1) * (m * k + k * n + m * n))


# ---- layers: tensor-API targets only ----------------------------------------------------------

def _conv(label, batch, cin, cout, hw, kernel, stride=1, groups=1, backward=False,
          winograd=False):
    """A conv2d case; ``winograd``: cltorch's Winograd path forced (CLTORCH_WINOGRAD=1, off
    by default until a GPU measures it), beside the same case's usual path."""
    pad = kernel // 2

    def build(t):
        if not _tensor_api(t):
            return None
        F = t.lib.nn.functional
        x = t.array(_floats(batch, cin, hw, hw), requires_grad=backward)
        w = t.array(_floats(cout, cin // groups, kernel, kernel, seed=3) * 0.1,
                    requires_grad=backward)

        def forward():
            return F.conv2d(x, w, stride=stride, padding=pad, groups=groups)

        def forward_backward():
            x.grad = w.grad = None
            forward().sum().backward()
        call = forward_backward if backward else forward
        return _with_winograd(call) if winograd else call
    out = -(-hw // stride)
    flops = 2.0 * batch * cout * out * out * (cin // groups) * kernel * kernel
    kind = "fwd+bwd" if backward else "fwd"
    return Case(f"conv2d {label} {kind}", "conv", batch * cin * hw * hw, build,
                flops * (3 if backward else 1))


def _with_winograd(call):
    def forced():
        saved = os.environ.get("CLTORCH_WINOGRAD")
        os.environ["CLTORCH_WINOGRAD"] = "1"
        try:
            return call()
        finally:
            if saved is None:
                del os.environ["CLTORCH_WINOGRAD"]
            else:
                os.environ["CLTORCH_WINOGRAD"] = saved
    return forced


def _layer(name, family, size, make):
    """A tensor-API case: ``make(lib, target)`` returns the call."""
    return Case(name, family, size, lambda t: make(t.lib, t) if _tensor_api(t) else None)


def _maxpool(lib, t):
    x = t.array(_floats(32, 64, 56, 56))
    return lambda: lib.nn.functional.max_pool2d(x, 3, 2, 1)


def _adaptive_pool(lib, t):
    x = t.array(_floats(32, 512, 14, 14))  # 14 over 5 cells: overlapping cells of 3 and 4
    return lambda: lib.nn.functional.adaptive_avg_pool2d(x, 5)


def _layer_norm(lib, t):
    x, w, b = t.array(_floats(4096, 1024)), t.array(_floats(1024)), t.array(_floats(1024))
    return lambda: lib.nn.functional.layer_norm(x, (1024,), w, b)


def _embedding(lib, t):
    table = t.array(_floats(50000, 256))
    index = t.array(_rng().integers(0, 50000, (64, 128)))
    return lambda: lib.nn.functional.embedding(index, table)


def _cross_entropy(lib, t):
    logits = t.array(_floats(4096, 1000))
    target = t.array(_rng().integers(0, 1000, 4096))
    return lambda: lib.nn.functional.cross_entropy(logits, target)


def _adam_step(lib, t, numel=4_000_000):
    params = [lib.nn.Parameter(t.array(_floats(n, seed=i)))
              for i, n in enumerate((numel // 2, numel // 4, numel // 4))]
    for p in params:
        p.grad = t.array(_floats(p.numel(), seed=9))
    optimizer = lib.optim.Adam(params, lr=1e-3)
    return optimizer.step


# ---- host overhead and copies -----------------------------------------------------------------

def _tiny(t):
    if t.kind == "clblast":
        return None
    a, b = t.array(np.ones(1, np.float32)), t.array(np.ones(1, np.float32))
    if t.kind == "numpy":
        return lambda: np.add(a, b)
    return lambda: t.lib.add(a, b)  # pyopencl: the bare launch issue 13's target compares with


def _host_to_device(n):
    """``tensor(host array, device=...)``: on a cpu target, the copy a new tensor makes."""
    host = _floats(n)

    def build(t):
        if not _tensor_api(t):
            return None
        return lambda: t.array(host)
    return Case(f"host to device {n * 4 >> 20} MiB", "copy", n, build, 0, 4 * n)


def _device_to_host(n):
    """``x.cpu().numpy()`` of a device tensor (on a cpu target it is a view: not measured)."""
    def build(t):
        if not _tensor_api(t) or t.device.startswith("cpu"):
            return None
        x = t.array(_floats(n))
        return lambda: x.cpu().numpy()
    return Case(f"device to host {n * 4 >> 20} MiB", "copy", n, build, 0, 4 * n)


def cases(quick: bool) -> list:
    """Every op case; ``quick`` keeps the small sizes (the whole quick run: under 2 minutes
    on 2 cores)."""
    n = 2 ** 20 if quick else 2 ** 24
    out = [Case("tiny op (host overhead)", "overhead", 1, _tiny, 1, 12)]
    out += [_pointwise(name, f, fn, n, reads, flops) for name, f, fn, reads, flops in POINTWISE]
    rows, cols = (1024, 1024) if quick else (4096, 4096)
    out += [_reduction("sum", rows, cols, d) for d in ("full", "rows", "columns")]
    out += [_softmax(rows, 1024, log) for log in (False, True)]
    squares = (256, 512) if quick else (256, 512, 1024, 2048, 4096)
    out += [_matmul(s, s, s) for s in squares]
    skinny = ((64, 1024, 1024), (1, 4096, 4096)) if quick else \
        ((64, 1024, 1024), (1024, 64, 1024), (1024, 1024, 64), (1, 4096, 4096))
    out += [_matmul(*s) for s in skinny]
    out.append(_matmul(128, 128, 128, batch=16 if quick else 64, label="bmm 128"))
    out.append(_matmul(512, 512, 512, transposed=True, label="matmul 512 A^T B^T"))
    batch = 2 if quick else 16
    convs = [("resnet 3x3 64ch 56px", batch, 64, 64, 56, 3), ("1x1 256->64 56px", batch, 256,
                                                                   64, 56, 1),
             ("stem 7x7/2 224px", batch, 3, 64, 224, 7, 2), ("depthwise 3x3 128ch 56px", batch,
                                                            128, 128, 56, 3, 1, 128)]
    for spec in convs[:2] if quick else convs:
        label, *args = spec
        out.append(_conv(label, *args))
        out.append(_conv(label, *args, backward=True))
    if not quick:
        _, *args = convs[0]
        out += [_conv("resnet 3x3 64ch 56px winograd", *args, backward=b, winograd=True)
                for b in (False, True)]
    if not quick:
        out += [_layer("max_pool2d 3x3/2 32x64x56x56", "pool", 32 * 64 * 56 * 56, _maxpool),
                _layer("adaptive_avg_pool2d 32x512x14x14 to 5x5", "pool", 32 * 512 * 14 * 14,
                       _adaptive_pool),
                _layer("embedding 64x128 of 50000x256", "embedding", 64 * 128, _embedding)]
    out += [_layer("layer_norm 4096x1024", "norm", 4096 * 1024, _layer_norm),
            _layer("cross_entropy 4096x1000", "loss", 4096 * 1000, _cross_entropy),
            _layer("Adam step, 4M parameters", "optimizer", 4_000_000, _adam_step)]
    copy = 2 ** 20 if quick else 2 ** 24
    out += [_host_to_device(copy), _device_to_host(copy)]
    return out
