"""Matrix products on every device against NumPy: PyTorch's shape rules, strided (transposed)
operands, dtypes, empty sizes and errors; and against PyTorch where it is installed."""
import numpy as np
import pytest
from conftest import assert_close, needs_fp64

import cltorch
from cltorch.ops import gemm

SHAPES = [((5,), (5,)), ((3, 5), (5,)), ((5,), (5, 4)), ((3, 5), (5, 4)),
          ((2, 3, 5), (5, 4)), ((5,), (2, 5, 4)), ((2, 1, 3, 5), (4, 5, 7)),
          ((70, 130), (130, 66)), ((1, 1), (1, 1))]


def _rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("sa,sb", SHAPES, ids=str)
def test_matmul_shapes(device, kernel_style, sa, sb):
    a, b = _rand(sa, 1).astype(np.float32), _rand(sb, 2).astype(np.float32)
    got = cltorch.tensor(a, device=device) @ cltorch.tensor(b, device=device)
    want = a.astype(np.float64) @ b.astype(np.float64)
    assert got.shape == want.shape
    assert_close(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "int64"])
def test_matmul_dtypes_and_transposed_views(device, kernel_style, dtype):
    if dtype == "float64":
        needs_fp64(device)
    dt = getattr(cltorch, dtype)
    a = np.round(_rand((40, 33), 3) * 4)
    b = np.round(_rand((29, 33), 4) * 4)
    x = cltorch.tensor(a, dtype=dt, device=device)
    y = cltorch.tensor(b, dtype=dt, device=device).t()  # (33, 29), not contiguous
    assert not y.is_contiguous()
    got = cltorch.mm(x, y)
    assert got.dtype is dt
    ref = x._host_values().astype(np.float64) @ y._host_values().astype(np.float64)
    want = cltorch.tensor(ref).to(dt)._host_values()  # rounded to the dtype like the kernel
    assert_close(got, want, rtol=1e-2 if "16" in dtype else 1e-6)


@pytest.mark.parametrize("m,n,k", [(1, 300, 700), (300, 1, 700), (1, 1, 5000), (1, 3, 0)])
@pytest.mark.parametrize("transposed", [False, True])
def test_matrix_vector_shapes(device, kernel_style, m, n, k, transposed):
    a, b = _rand((3, m, k), 5).astype(np.float32), _rand((3, k, n), 6).astype(np.float32)
    x, y = cltorch.tensor(a, device=device), cltorch.tensor(b, device=device)
    if transposed:  # the same values through transposed (non-contiguous) views
        x = cltorch.tensor(a.transpose(0, 2, 1).copy(), device=device).transpose(1, 2)
        y = cltorch.tensor(b.transpose(0, 2, 1).copy(), device=device).transpose(1, 2)
    want = a.astype(np.float64) @ b.astype(np.float64)
    assert_close(cltorch.bmm(x, y), want, rtol=1e-4, atol=1e-4)
    assert_close(x[0] @ y[0], want[0], rtol=1e-4, atol=1e-4)


def test_products(device):
    a, b, c = _rand((3, 4), 5), _rand((4, 6), 6), _rand((3, 6), 7)
    ta, tb, tc = (cltorch.tensor(v, dtype=cltorch.float32, device=device) for v in (a, b, c))
    assert_close(cltorch.addmm(tc, ta, tb, beta=0.5, alpha=2), 0.5 * c + 2 * (a @ b),
                 rtol=1e-5, atol=1e-5)
    nan = cltorch.full((3, 6), float("nan"), device=device)
    assert_close(cltorch.addmm(nan, ta, tb, beta=0), a @ b, rtol=1e-5, atol=1e-5)
    assert_close(cltorch.mv(ta, tb[:, 0]), a @ b[:, 0], rtol=1e-5, atol=1e-5)
    assert_close(cltorch.outer(ta[0], tb[0]), np.outer(a[0], b[0]), rtol=1e-6)
    assert_close(cltorch.dot(ta[0], tb[:, 1]), a[0] @ b[:, 1], rtol=1e-5)
    bb = _rand((2, 3, 4), 8)
    tbb = cltorch.tensor(bb, dtype=cltorch.float32, device=device)
    assert_close(cltorch.bmm(tbb, tbb.transpose(1, 2)), bb @ bb.transpose(0, 2, 1),
                 rtol=1e-5, atol=1e-5)
    assert_close(cltorch.baddbmm(tbb @ tbb.transpose(1, 2), tbb, tbb.transpose(1, 2), alpha=2),
                 3 * (bb @ bb.transpose(0, 2, 1)), rtol=1e-5, atol=1e-5)


def test_empty_and_zero_k(device):
    z = cltorch.zeros(3, 0, device=device) @ cltorch.zeros(0, 4, device=device)
    assert_close(z, np.zeros((3, 4)))
    assert (cltorch.zeros(0, 5, device=device) @ cltorch.zeros(5, 2, device=device)).shape == (0, 2)


def test_matmul_errors(device):
    x = cltorch.ones(2, 3, device=device)
    with pytest.raises(RuntimeError, match=r"shapes cannot be multiplied \(2x3 and 2x3\)"):
        x @ x
    with pytest.raises(RuntimeError, match="same dtype"):
        x @ cltorch.ones(3, 2, dtype=cltorch.int64, device=device)
    with pytest.raises(RuntimeError, match="at least 1D"):
        cltorch.matmul(cltorch.tensor(1.0, device=device), x)
    with pytest.raises(RuntimeError, match="inconsistent tensor size"):
        cltorch.dot(cltorch.ones(3, device=device), cltorch.ones(4, device=device))
    with pytest.raises(RuntimeError, match="self must be a matrix"):
        cltorch.mm(cltorch.ones(3, device=device), x)


def test_matches_torch_including_batch_broadcast(device):
    torch = pytest.importorskip("torch")
    a, b = _rand((4, 1, 5, 3), 9).astype(np.float32), _rand((2, 3, 6), 10).astype(np.float32)
    want = torch.from_numpy(a) @ torch.from_numpy(b)
    got = cltorch.tensor(a, device=device) @ cltorch.tensor(b, device=device)
    assert got.shape == tuple(want.shape)
    assert_close(got, want.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("equation,shapes", [
    ("ij,jk->ik", [(3, 4), (4, 5)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ij,kj->ik", [(3, 4), (5, 4)]), ("i,i->", [(6,), (6,)]), ("i,j->ij", [(3,), (4,)]),
    ("ii->i", [(4, 4)]), ("ij->ji", [(3, 4)]), ("ij->", [(3, 4)]), ("ijk,jl->kil", [(2, 3, 4), (3, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]), ("ij,ij->ij", [(3, 4), (3, 4)])])
def test_einsum(device, equation, shapes):
    arrays = [_rand(s, i) for i, s in enumerate(shapes)]
    got = cltorch.einsum(equation, *[cltorch.tensor(a, dtype=cltorch.float32, device=device)
                                     for a in arrays])
    assert_close(got, np.einsum(equation, *arrays), rtol=1e-4, atol=1e-5)


def test_more_products(device):
    a, b = _rand((3, 4), 11), _rand((4, 2), 12)
    ta, tb = (cltorch.tensor(v, dtype=cltorch.float32, device=device) for v in (a, b))
    assert_close(cltorch.tensordot(ta, tb, 1), np.tensordot(a, b, 1), rtol=1e-5, atol=1e-5)
    c = _rand((2, 3, 4), 13)
    tc = cltorch.tensor(c, dtype=cltorch.float32, device=device)
    assert_close(cltorch.tensordot(tc, ta, ([1, 2], [0, 1])), np.tensordot(c, a, ([1, 2], [0, 1])),
                 rtol=1e-5, atol=1e-5)
    assert_close(cltorch.kron(ta, tb), np.kron(a, b), rtol=1e-6)
    assert_close(cltorch.inner(tc, ta), np.inner(c, a), rtol=1e-5, atol=1e-5)
    assert_close(cltorch.vdot(ta[0], ta[1]), a[0] @ a[1], rtol=1e-5)
    assert_close(cltorch.addmv(ta[:, 0], ta, tb[:, 0], beta=2), 2 * a[:, 0] + a @ b[:, 0],
                 rtol=1e-5, atol=1e-5)
    assert_close(cltorch.addr(ta, ta[:, 0], ta[0], alpha=3), a + 3 * np.outer(a[:, 0], a[0]),
                 rtol=1e-5, atol=1e-5)
    bb = cltorch.tensor(_rand((2, 3, 4), 14), dtype=cltorch.float32, device=device)
    square = ta[:, :3]
    assert_close(cltorch.addbmm(square, bb, bb.transpose(1, 2)),
                 a[:, :3] + sum(x @ x.T for x in bb._host_values()), rtol=1e-4, atol=1e-4)


# The tiled GEMM's parameters (CLTORCH_GEMM_TILE over the tuned ones): the 64 and 128 tiles,
# vector reads of 4 and 2 with double buffering, items and blocks that are not square, a k step
# of 32, and a work-group of 64
TILES = ["mwi=4,nwi=4,kwg=16", "mwi=8,nwi=8,kwg=8",
         "mdimc=8,ndimc=16,mwi=8,nwi=4,kwg=16,vw=4,db=1",
         "mdimc=16,ndimc=8,mwi=2,nwi=4,kwg=8,vw=2,db=1", "mdimc=8,ndimc=8,mwi=8,nwi=2,kwg=32"]


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("transposed", [(False, False), (True, False), (False, True),
                                        (True, True)], ids=str)
def test_tiles_and_operand_layouts(device, kernel_style, monkeypatch, tile, transposed):
    """The tiled GEMM's tiles, with each operand stored either way (its local-memory loads walk
    the contiguous dim), ragged edges, a k that ends inside a step, and a batch; FMA in the
    inner loop keeps float32 within 1e-5 of float64."""
    monkeypatch.setenv("CLTORCH_GEMM_TILE", tile)
    a, b = _rand((2, 150, 77), 8).astype(np.float32), _rand((2, 77, 131), 9).astype(np.float32)

    def laid_out(v, flip):
        t = cltorch.tensor(v.transpose(0, 2, 1).copy() if flip else v, device=device)
        return t.transpose(1, 2) if flip else t
    got = laid_out(a, transposed[0]) @ laid_out(b, transposed[1])
    assert_close(got, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("tile", TILES[2:4])
@pytest.mark.parametrize("dtype", ["float64", "float16", "int32"])
def test_tiles_of_other_dtypes(device, kernel_style, monkeypatch, tile, dtype):
    """Vector reads are for float32; other compute types take the same tile with scalar
    reads, double buffering kept."""
    monkeypatch.setenv("CLTORCH_GEMM_TILE", tile)
    a, b = np.rint(_rand((70, 45), 3) * 4), np.rint(_rand((45, 90), 4) * 4)
    dt = getattr(cltorch, dtype)
    if dt is cltorch.float64:
        needs_fp64(device)
    got = cltorch.tensor(a, dtype=dt, device=device) @ cltorch.tensor(b, dtype=dt, device=device)
    assert got.dtype is dt
    assert_close(got.double(), a @ b, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32"])
@pytest.mark.parametrize("shape", [(2, 70, 1000, 90), (1, 64, 300, 64), (3, 5, 129, 7)],
                         ids=str)
def test_split_k_on_a_device_with_many_units(device, monkeypatch, dtype, shape):
    """A product with fewer tiles than the GPU has compute units sums k in slices (split-K:
    partial products in the compute type, then their sum), ragged slices and tiles, a batch,
    a transposed operand; integers keep one slice. Against NumPy in float64."""
    dev = cltorch.backend.registry.get(device)
    if dev.kind != "opencl":
        pytest.skip("the tiled GEMM's groups on an OpenCL device (PoCL, Oclgrind)")
    monkeypatch.setattr(dev, "cpu_like", False)
    monkeypatch.setattr(dev, "compute_units", 200)
    batch, m, k, n = shape
    launches, launch = [], dev.launch

    def spy(kernel, n_items, args, local=None):
        launches.append(n_items)
        return launch(kernel, n_items, args, local)
    monkeypatch.setattr(dev, "launch", spy)
    a = _rand((batch, m, k), 1)
    b = _rand((batch, n, k), 2)
    if dtype == "int32":
        a, b = np.rint(a * 3), np.rint(b * 3)
    dt = getattr(cltorch, dtype)
    x = cltorch.tensor(a, dtype=dt, device=device)
    y = cltorch.tensor(b, dtype=dt, device=device).transpose(1, 2)
    got = x @ y
    want = x.double().cpu().numpy() @ y.double().cpu().numpy()
    tol = {"float32": 1e-4, "float16": 1e-2, "int32": 0}[dtype]
    assert got.dtype is dt
    assert_close(got.double(), want, rtol=tol, atol=tol * 10)
    tile = gemm._tile(dev, dt.compute, batch, m, n)
    tiles = batch * -(-m // tile.mwg) * -(-n // tile.nwg)
    splits = launches[0] // (tiles * tile.group)
    assert splits == (1 if dtype == "int32" or k < 2 * gemm.SPLIT_K_CHUNK else
                      min(-(-200 // tiles), k // gemm.SPLIT_K_CHUNK)), (launches, tiles)


@pytest.mark.parametrize("value,message", [
    ("mwi=8,foo=2", "expected name=integer pairs"), ("mwi=x", "expected name=integer pairs"),
    ("mwi=16", "mwi and nwi lie in 1..8"), ("vw=4,mwi=2", "vw is 1, 2 or 4 and divides"),
    ("mdimc=64,ndimc=32", "mdimc \\* ndimc at most 1024"), ("db=2", "db is 0 or 1"),
    ("kwg=0", "kwg lies in 1..64")])
def test_gemm_tile_setting_is_checked(device, monkeypatch, value, message):
    dev = cltorch.backend.registry.get(device)
    if dev.kind == "cpu":
        pytest.skip("the NumPy cpu has no tiled GEMM")
    monkeypatch.setattr(dev, "cpu_like", False)
    x = cltorch.ones(8, 8, device=device)
    monkeypatch.setenv("CLTORCH_GEMM_TILE", value)
    with pytest.raises(ValueError, match=message):
        x @ x


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("broadcast", ["none", "a", "b"])
@pytest.mark.parametrize("transposed", [(False, False), (True, True)], ids=str)
@pytest.mark.parametrize("packed_from", [0, 1 << 62], ids=["packed", "blocked"])
def test_panel_edges_broadcast_and_layouts(device, kernel_style, monkeypatch, dtype, broadcast,
                                           transposed, packed_from):
    """Ragged edges for every kernel's blocks (13 rows: two panels of 6 and one row; 37
    columns: two panels of 16 and 5), an operand broadcast over the batch (a CPU device packs
    it once), both operands stored either way, and the compute-type panels of float16; a CPU
    device's packed and blocked kernels both (the size that chooses between them forced)."""
    if dtype == "float64":
        needs_fp64(device)
    monkeypatch.setattr(gemm, "PACKED_MIN_WORK", packed_from)
    a = _rand((1 if broadcast == "a" else 3, 13, 45), 15)
    b = _rand((1 if broadcast == "b" else 3, 45, 37), 16)

    def laid_out(v, flip):
        t = cltorch.tensor(v.transpose(0, 2, 1).copy() if flip else v,
                           dtype=getattr(cltorch, dtype), device=device)
        t = t.transpose(1, 2) if flip else t
        return t.expand(3, *t.shape[1:])
    x, y = laid_out(a, transposed[0]), laid_out(b, transposed[1])
    got = cltorch.bmm(x, y)
    want = x._host_values().astype(np.float64) @ y._host_values().astype(np.float64)
    assert_close(got, cltorch.tensor(want).to(got.dtype)._host_values(),
                 rtol=1e-2 if dtype == "float16" else 1e-5, atol=1e-2 if dtype == "float16"
                 else 1e-5)
