"""Indexing through tensors on every device, against NumPy (and PyTorch where installed)."""
import numpy as np
import pytest
from conftest import assert_close

import cltorch

DTYPES = ["float32", "float16", "bfloat16", "int64", "int8", "bool"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_index_select_gather_take(device, dtype):
    a = np.arange(60).reshape(3, 4, 5) % (2 if dtype == "bool" else 60)
    x = cltorch.tensor(a, dtype=getattr(cltorch, dtype), device=device)
    ref = x._host_values()
    idx = cltorch.tensor([3, 0, 2, 0], device=device)
    assert_close(x.index_select(1, idx), ref[:, [3, 0, 2, 0]])
    with pytest.raises(IndexError, match="index out of range in self"):  # no wrapping
        x.index_select(1, cltorch.tensor([-1], device=device)).tolist()  # raised at a sync
    assert_close(x.permute(2, 0, 1).index_select(0, idx[:2]),
                 ref.transpose(2, 0, 1)[[3, 0]])
    g = np.random.default_rng(0).integers(0, 4, (3, 2, 5))
    assert_close(cltorch.gather(x, 1, cltorch.tensor(g, device=device)),
                 np.take_along_axis(ref, g, 1))
    assert_close(cltorch.take(x, cltorch.tensor([[0, 59], [7, 8]], device=device)),
                 ref.ravel()[[[0, 59], [7, 8]]])


def test_advanced_getitem(device):
    a = np.arange(24.0, dtype=np.float32).reshape(2, 3, 4)
    x = cltorch.tensor(a, device=device)
    assert_close(x[cltorch.tensor([1, 0, 1], device=device)], a[[1, 0, 1]])
    assert_close(x[:, [2, 0]], a[:, [2, 0]])
    # PyTorch applies ints first (unlike NumPy, which counts them as advanced indices)
    assert_close(x[1, :, [[0, 3], [1, 1]]], a[1][:, [[0, 3], [1, 1]]])
    assert_close(x[1, [2, 0]], a[1, [2, 0]])
    assert_close(x[:, 1, [3, 3]], a[:, 1, [3, 3]])
    assert_close(x[x > 10], a[a > 10])
    assert_close(x[cltorch.tensor([True, False], device=device)], a[[True, False]])
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 0 with size 2"):
        x[[3]].tolist()
    with pytest.raises(IndexError, match="index out of range in self"):
        x.index_select(1, cltorch.tensor([-4], device=device)).tolist()


INDEX_CASES = [  # indices built by a function of lists; NumPy agrees with PyTorch on these
    lambda i: (i([[0, 2], [1, 1]]), i([3, 0])),          # two tensors, broadcast
    lambda i: (slice(None), i([2, 0]), i([1, 4])),        # adjacent after a slice: in place
    lambda i: (i([1, 0]), slice(None), i([4, 1])),        # separated by a slice: dims first
    lambda i: (Ellipsis, i([0, 2]), i([[1], [3]])),       # after '...'
    lambda i: (i([1]), slice(1, 3), None, i([2, 2, 2])),  # a None among them
    lambda i: (i([-1, 0]), i([-3, 2]), i([0, -1])),       # negative indices, every dim
    lambda i: (i([[True, False, True, False]] * 3),),     # a 2-D mask over leading dims
    lambda i: (slice(None), i([True, False, True, True]), i([0, 1, 2])),  # mask + tensor
]


@pytest.mark.parametrize("case", range(len(INDEX_CASES)))
def test_several_index_tensors(device, case):
    a = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    make = INDEX_CASES[case]
    want_index = make(lambda v: np.array(v))
    index = make(lambda v: cltorch.tensor(v, device=device))
    x = cltorch.tensor(a, device=device)
    assert_close(x[index], a[want_index])
    y, b = x.clone(), a.copy()
    # each value named by its target, so that an element indexed twice gets the same value
    # twice: which of two different writes lands is not promised (PyTorch leaves it undefined,
    # and GPUs write in no fixed order)
    values = -np.arange(a.size, dtype=np.float32).reshape(a.shape)[want_index]
    b[want_index] = values
    y[index] = cltorch.tensor(values, device=device)
    assert_close(y, b)
    y[index] = 7.0  # a scalar broadcasts
    b[want_index] = 7.0
    assert_close(y, b)


def test_several_index_tensors_match_torch(device):
    torch = pytest.importorskip("torch")
    a = np.arange(3 * 4 * 5 * 6, dtype=np.float32).reshape(3, 4, 5, 6)
    cases = [lambda i: (0, slice(None), i([1, 2])), lambda i: (slice(None), 0, slice(None),
                                                                i([1, 2])),
             lambda i: (i([0, 1]), 2, i([1, 2])), lambda i: (None, i([0, 1]), None, i([1, 2])),
             lambda i: (i([[0], [2]]), slice(None), i([1, 3, 4]), 1), lambda i: (True,),
             lambda i: (False, 0), lambda i: (1, i([[True, False, True, False, True]] * 4))]
    for make in cases:
        want = torch.from_numpy(a)[make(lambda v: torch.tensor(v))]
        got = cltorch.tensor(a, device=device)[make(lambda v: cltorch.tensor(v, device=device))]
        assert got.shape == tuple(want.shape)
        assert_close(got, want.numpy())
        t, c = torch.from_numpy(a.copy()), cltorch.tensor(a, device=device)
        t[make(lambda v: torch.tensor(v))] = -1.0
        c[make(lambda v: cltorch.tensor(v, device=device))] = -1.0
        assert_close(c, t.numpy())


def test_index_errors(device):
    x = cltorch.zeros(2, 3, device=device)
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 1 with size 3"):
        x[[0, 1], [0, 3]].tolist()
    with pytest.raises(IndexError, match="shape mismatch: indexing tensors could not be "
                                         "broadcast together"):
        x[[0, 1], [0, 1, 2]]
    with pytest.raises(IndexError, match="The shape of the mask \\[2\\] at index 0 does not "
                                         "match the shape of the indexed tensor \\[2, 3\\] at index 1"):
        x[:, cltorch.tensor([True, False], device=device)]
    with pytest.raises(IndexError, match="too many indices"):
        x[[0], [0], [0]]
    with pytest.raises(RuntimeError, match="shape mismatch: value tensor of shape \\[4\\]"):
        x[[0, 1], [0, 1]] = cltorch.zeros(4, device=device)
    with pytest.raises(IndexError, match="tensors used as indices must be long"):
        x[cltorch.tensor([0.5], device=device)]


def test_masks_and_nonzero(device):
    a = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -3.0]], np.float32)
    x = cltorch.tensor(a, device=device)
    assert cltorch.nonzero(x).tolist() == np.argwhere(a).tolist()
    assert [t.tolist() for t in x.nonzero(as_tuple=True)] == [r.tolist() for r in np.nonzero(a)]
    assert [t.tolist() for t in cltorch.where(x < 0)] == [[1], [2]]
    assert_close(x.masked_fill(x == 0, 9.0), np.where(a == 0, 9.0, a))
    assert_close(x.masked_select(cltorch.tensor([True, False, True], device=device)),
                 a[:, [0, 2]].ravel())
    y = x.clone()
    y[y < 0] = 100.0
    assert_close(y, np.where(a < 0, 100.0, a))
    y.masked_fill_(cltorch.tensor([[True], [False]], device=device), -1)
    assert y.tolist()[0] == [-1.0, -1.0, -1.0]
    assert cltorch.nonzero(cltorch.tensor(5.0, device=device)).shape == (1, 0)
    with pytest.raises(RuntimeError, match="only supports boolean masks"):
        x.masked_fill(x, 1.0)
    z = x.clone()
    z[[1]] = cltorch.tensor([7.0, 8.0, 9.0], device=device)
    z[:, [2, 0]] = -5.0
    assert z.tolist() == [[-5.0, 1.5, -5.0], [-5.0, 8.0, -5.0]]


def test_matches_torch(device):
    torch = pytest.importorskip("torch")
    a = np.arange(30.0, dtype=np.float32).reshape(5, 6)
    i = np.array([4, 0, 2])
    cases = [lambda m, t, k: t[k], lambda m, t, k: t[:, k], lambda m, t, k: t[t > 12],
             lambda m, t, k: m.index_select(t, 1, k), lambda m, t, k: t.masked_fill(t > 3, 0),
             lambda m, t, k: m.gather(t, 0, k.unsqueeze(1).expand(3, 6)),
             lambda m, t, k: m.nonzero(t % 7 == 0)]
    for case in cases:
        want = case(torch, torch.tensor(a), torch.tensor(i))
        got = case(cltorch, cltorch.tensor(a, device=device), cltorch.tensor(i, device=device))
        assert got.shape == tuple(want.shape) and repr(got.dtype) == str(want.dtype)
        assert_close(got, want.numpy())
