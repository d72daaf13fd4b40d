"""utils.data: datasets, samplers, collation and the DataLoader (single process and worker
processes), against PyTorch's documented behaviour."""
import collections

import numpy as np
import pytest

import cltorch
from cltorch.utils.data import (BatchSampler, ChainDataset, ConcatDataset, DataLoader, Dataset,
                                IterableDataset, RandomSampler, SequentialSampler, Subset,
                                SubsetRandomSampler, TensorDataset, WeightedRandomSampler,
                                default_collate, get_worker_info, random_split)

Point = collections.namedtuple("Point", "x y")


class Squares(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        return {"i": i, "sq": np.array([i * i], dtype=np.float32), "name": f"s{i}"}


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))

    def __len__(self):
        return self.n


def test_datasets_and_splits():
    ds = TensorDataset(cltorch.arange(6.0), cltorch.arange(6) * 10)
    assert len(ds) == 6 and ds[2][1].item() == 20
    both = ds + ds
    assert isinstance(both, ConcatDataset) and len(both) == 12 and both[7][1].item() == 10
    assert both[-1][1].item() == 50
    sub = Subset(ds, [5, 0])
    assert sub[0][1].item() == 50 and len(sub) == 2
    g = cltorch.Generator().manual_seed(3)
    parts = random_split(ds, [0.5, 0.5], generator=g)
    assert sorted(parts[0].indices + parts[1].indices) == list(range(6))
    g2 = cltorch.Generator().manual_seed(3)
    assert random_split(ds, [3, 3], generator=g2)[0].indices == parts[0].indices
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        random_split(ds, [2, 2])
    assert list(ChainDataset([Stream(2), Stream(3)])) == [0, 1, 0, 1, 2]


def test_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    g = cltorch.Generator().manual_seed(1)
    order = list(RandomSampler(range(8), generator=g))
    assert sorted(order) == list(range(8))
    drawn = list(RandomSampler(range(3), replacement=True, num_samples=20))
    assert len(drawn) == 20 and set(drawn) <= {0, 1, 2}
    assert sorted(SubsetRandomSampler([7, 9, 11])) == [7, 9, 11]
    weighted = list(WeightedRandomSampler([0.0, 1.0, 0.0], 5))
    assert weighted == [1] * 5
    assert list(BatchSampler(range(7), 3, drop_last=False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(BatchSampler(range(7), 3, drop_last=True)) == 2
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        BatchSampler(range(3), 0, False)


def test_default_collate():
    batch = default_collate([Squares()[i] for i in range(3)])
    assert batch["i"].tolist() == [0, 1, 2] and batch["i"].dtype is cltorch.int64
    assert batch["sq"].shape == (3, 1) and batch["name"] == ["s0", "s1", "s2"]
    floats = default_collate([1.5, 2.5])
    assert floats.dtype is cltorch.float64
    points = default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert isinstance(points, Point) and points.x.tolist() == [1, 3]
    pairs = default_collate([(cltorch.ones(2), 1), (cltorch.zeros(2), 0)])
    assert pairs[0].shape == (2, 2) and pairs[1].tolist() == [1, 0]


@pytest.mark.parametrize("workers", [0, 2])
def test_dataloader(workers):
    ds = TensorDataset(cltorch.arange(10.0).reshape(10, 1), cltorch.arange(10))
    loader = DataLoader(ds, batch_size=4, num_workers=workers)
    assert len(loader) == 3
    assert [b[1].tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    dropped = DataLoader(ds, batch_size=4, drop_last=True, num_workers=workers)
    assert [len(b[1]) for b in dropped] == [4, 4]
    runs = [[b[1].tolist() for b in DataLoader(ds, batch_size=3, shuffle=True,
                                               generator=cltorch.Generator().manual_seed(7),
                                               num_workers=workers)] for _ in range(2)]
    assert runs[0] == runs[1]  # seeded runs are reproducible
    assert sorted(sum(runs[0], [])) == list(range(10))
    dicts = list(DataLoader(Squares(), batch_size=5, num_workers=workers))
    assert dicts[1]["name"] == [f"s{i}" for i in range(5, 10)]
    stream = DataLoader(Stream(7), batch_size=2, num_workers=workers)
    assert sorted(sum((b.tolist() for b in stream), [])) == list(range(7))
    unbatched = list(DataLoader(ds, batch_size=None))
    assert len(unbatched) == 10 and unbatched[3][1].item() == 3


def test_workers_init_persistence_and_errors():
    seen = []
    loader = DataLoader(Stream(4), batch_size=None, num_workers=2,
                        worker_init_fn=lambda i: None, persistent_workers=True)
    for _ in range(2):  # two epochs on the same workers
        seen.append(sorted(int(b) for b in loader))
    assert seen == [[0, 1, 2, 3]] * 2

    class Broken(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            raise ValueError("bad sample")
    with pytest.raises(ValueError, match="Caught ValueError in DataLoader worker process 0"
                                         "(.|\n)*bad sample"):  # the worker's type, as PyTorch
        list(DataLoader(Broken(), num_workers=1))
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(Squares(), sampler=SequentialSampler(range(10)), shuffle=True)
    with pytest.raises(ValueError, match="expected unspecified shuffle"):
        DataLoader(Stream(3), shuffle=True)


class _Slow(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        import time
        time.sleep(2.0)
        return i


class _WorkerSeed(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        info = get_worker_info()
        return (info.id, _MARK[0])


_MARK = ["unset"]


def _mark(worker_id):
    _MARK[0] = f"init {worker_id}"


def test_timeout_and_worker_init():
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.5 seconds"):
        list(DataLoader(_Slow(), num_workers=1, timeout=0.5))
    seen = [tuple(int(v) if not isinstance(v, str) else v for v in item) for item in
            DataLoader(_WorkerSeed(), batch_size=None, num_workers=2, worker_init_fn=_mark)]
    assert sorted(seen) == [(0, "init 0"), (0, "init 0"), (1, "init 1"), (1, "init 1")]
    assert _MARK[0] == "unset"  # the init function ran in the workers only


def _row_by_row(batch):
    return default_collate(batch)  # another function: the loader collates row by row


@pytest.mark.parametrize("shuffle", [False, True])
def test_tensor_dataset_batches_equal_row_by_row_collation(device, shuffle):
    x = cltorch.tensor(np.arange(46.0, dtype=np.float32).reshape(23, 2), device=device)
    y = cltorch.arange(23, device=device)
    data = TensorDataset(x, y)
    fast = DataLoader(data, batch_size=5, shuffle=shuffle, drop_last=False,
                      generator=cltorch.Generator().manual_seed(3))
    slow = DataLoader(data, batch_size=5, shuffle=shuffle, collate_fn=_row_by_row,
                      generator=cltorch.Generator().manual_seed(3))
    for got, want in zip(fast, slow, strict=True):
        assert isinstance(got, list) and len(got) == 2
        for g, w in zip(got, want):
            assert g.tolist() == w.tolist() and g.dtype is w.dtype and g.device == w.device
    first = next(iter(fast))[0]
    first.fill_(-1.0)  # a batch is a copy, never a view of the dataset
    assert x.min().item() == 0.0


def test_tensor_dataset_batches_take_odd_indices_row_by_row():
    data = TensorDataset(cltorch.arange(6.0), cltorch.arange(6))
    batches = list(DataLoader(data, batch_sampler=[[-1, 0], [5, 5, 2]]))
    assert [b[0].tolist() for b in batches] == [[5.0, 0.0], [5.0, 5.0, 2.0]]


def test_getitems_is_used_when_a_dataset_has_it():
    class Batched(Dataset):
        calls = []

        def __len__(self):
            return 8

        def __getitem__(self, i):
            raise AssertionError("__getitems__ should have been used")

        def __getitems__(self, indices):
            self.calls.append(list(indices))
            return [cltorch.tensor([float(i)]) for i in indices]
    out = [b.tolist() for b in DataLoader(Batched(), batch_size=3)]
    assert out == [[[0.0], [1.0], [2.0]], [[3.0], [4.0], [5.0]], [[6.0], [7.0]]]
    assert Batched.calls == [[0, 1, 2], [3, 4, 5], [6, 7]]


@pytest.mark.parametrize("workers", [0, 2])
def test_pin_memory_batches_are_pinned_copies_and_move_without_waiting(device, workers):
    """DataLoader(pin_memory=True) hands out pinned batches (tuples and dicts walked); a
    non-blocking copy from them lands with the right values, also once the batch is gone."""
    data = TensorDataset(cltorch.arange(12.0).reshape(6, 2), cltorch.arange(6))
    seen = []
    for x, y in DataLoader(data, batch_size=4, pin_memory=True, num_workers=workers):
        assert x.is_pinned() and y.is_pinned() and x.device.type == "cpu"
        moved = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        del x, y
        seen.append([t.cpu().tolist() for t in moved])
    assert seen == [[[[0, 1], [2, 3], [4, 5], [6, 7]], [0, 1, 2, 3]],
                    [[[8, 9], [10, 11]], [4, 5]]]
    dict_loader = DataLoader([{"a": cltorch.ones(2)}] * 2, batch_size=2, pin_memory=True)
    assert all(batch["a"].is_pinned() for batch in dict_loader)
    assert not next(iter(DataLoader(data, batch_size=2)))[0].is_pinned()
