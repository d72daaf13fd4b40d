"""Run by tests/test_distributed.py under ``cltorch run -n N`` (MPI): one rank of a check.

    dist_worker.py collectives DEVICE...   every collective against NumPy on each device
    dist_worker.py ddp DEVICE              DistributedDataParallel against one process
    dist_worker.py fail                    rank 1 raises mid-step
    dist_worker.py timeout                 rank 0 waits in an all_reduce the others skip

Every rank can make every rank's data (seeded by rank), so each checks against NumPy alone.
Rank 0 prints "ok <check> <ranks>" when every assertion held on every rank."""
import sys
import time

import numpy as np

import cltorch
import cltorch.distributed as dist
import cltorch.nn as nn


def data(rank, dtype, shape=(3, 4)):
    values = np.random.default_rng(rank).standard_normal(shape) * 4
    return values.astype(dtype) if np.issubdtype(dtype, np.floating) else \
        np.round(values).astype(dtype)


def tensor(values, device, dtype=None):
    t = cltorch.tensor(values, device=device)
    return t if dtype is None else t.to(dtype)


def check(got, want, exact=False):
    got = got.detach().float().cpu().numpy() if hasattr(got, "detach") else np.asarray(got)
    if exact:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def reductions(device, rank, size):
    dtypes = [np.float32, np.int64] + ([np.float64] if cltorch.backend.get(device)
                                       .supports_fp64 else [])
    for dtype in dtypes:
        every = np.stack([data(r, dtype) for r in range(size)])
        exact = not np.issubdtype(dtype, np.floating)
        for op, want in ((dist.ReduceOp.SUM, every.sum(0)), (dist.ReduceOp.MAX, every.max(0)),
                         (dist.ReduceOp.MIN, every.min(0)),
                         (dist.ReduceOp.PRODUCT, every.prod(0))):
            t = tensor(data(rank, dtype), device)
            dist.all_reduce(t, op=op)
            check(t, want, exact)
        t = tensor(data(rank, dtype), device)
        dist.all_reduce(t, op=dist.ReduceOp.AVG)  # integers: truncated, as NCCL's
        check(t, np.trunc(every.sum(0) / size) if exact else every.mean(0), exact)
    whole = tensor(np.stack([data(rank, np.float32), -data(rank, np.float32)]), device)
    row = whole[1]  # a view at an offset: the rest of its storage stays as it was
    dist.all_reduce(row)
    check(row, -np.stack([data(r, np.float32) for r in range(size)]).sum(0))
    check(whole[0], data(rank, np.float32), exact=True)
    half = tensor(data(rank, np.float32), device, cltorch.float16)
    dist.all_reduce(half)
    every = np.stack([data(r, np.float32).astype(np.float16).astype(np.float32)
                      for r in range(size)])
    np.testing.assert_allclose(half.float().cpu().numpy(), every.sum(0), rtol=2e-3, atol=1e-2)
    flags = tensor(np.arange(6) % size == rank, device)
    dist.all_reduce(flags)
    assert flags.dtype == cltorch.bool and flags.all().item()


def movements(device, rank, size):
    every = np.stack([data(r, np.float32) for r in range(size)])
    t = tensor(data(rank, np.float32), device)
    dist.broadcast(t, src=size - 1)
    check(t, every[-1], exact=True)
    outs = [tensor(np.zeros((3, 4), np.float32), device) for _ in range(size)]
    dist.all_gather(outs, tensor(data(rank, np.float32), device))
    for r in range(size):
        check(outs[r], every[r], exact=True)
    whole = tensor(np.zeros((size * 3, 4), np.float32), device)
    dist.all_gather_into_tensor(whole, tensor(data(rank, np.float32), device))
    check(whole, every.reshape(size * 3, 4), exact=True)
    parts = [tensor(data(rank * size + r, np.float32), device) for r in range(size)]
    out = tensor(np.zeros((3, 4), np.float32), device)
    dist.reduce_scatter(out, parts)
    check(out, sum(data(r * size + rank, np.float32) for r in range(size)))
    big = tensor(np.concatenate([data(rank * size + r, np.float32) for r in range(size)]),
                 device)
    dist.reduce_scatter_tensor(out, big, op=dist.ReduceOp.MAX)
    check(out, np.max([data(r * size + rank, np.float32) for r in range(size)], 0))
    mine = tensor(data(rank, np.float32), device)
    dist.reduce(mine, dst=1, op=dist.ReduceOp.SUM)
    check(mine, every.sum(0) if rank == 1 else every[rank])
    listing = [tensor(np.zeros((3, 4), np.float32), device) for _ in range(size)] \
        if rank == 0 else None
    dist.gather(tensor(data(rank, np.float32), device), listing, dst=0)
    if rank == 0:
        for r in range(size):
            check(listing[r], every[r], exact=True)
    got = tensor(np.zeros((3, 4), np.float32), device)
    dist.scatter(got, [tensor(data(100 + r, np.float32), device) for r in range(size)]
                 if rank == 0 else None, src=0)
    check(got, data(100 + rank, np.float32), exact=True)


def point_to_point(device, rank, size):
    sent = tensor(data(rank, np.float32), device)
    into = tensor(np.zeros((3, 4), np.float32), device)
    if rank % 2 == 0:  # even ranks send first, odd ones receive first: no deadlock
        dist.send(sent, dst=(rank + 1) % size)
        src = dist.recv(into)
    else:
        src = dist.recv(into)
        dist.send(sent, dst=(rank + 1) % size)
    assert src == (rank - 1) % size, src
    check(into, data((rank - 1) % size, np.float32), exact=True)
    into = tensor(np.zeros((3, 4), np.float32), device)
    works = [dist.isend(sent, dst=(rank + 1) % size), dist.irecv(into, src=(rank - 1) % size)]
    for work in works:
        work.wait()
        assert work.is_completed() and work.is_success()
    check(into, data((rank - 1) % size, np.float32), exact=True)
    t = tensor(np.ones(5, np.float32), device)
    work = dist.all_reduce(t, async_op=True)
    work.wait()
    assert work.result()[0] is t
    check(t, np.full(5, size, np.float32), exact=True)


def groups(device, rank, size):
    evens = dist.new_group([r for r in range(size) if r % 2 == 0])
    if rank % 2:
        assert evens is dist.GroupMember.NON_GROUP_MEMBER and dist.get_rank(evens) == -1
    else:
        assert dist.get_rank(evens) == rank // 2
        assert dist.get_world_size(evens) == (size + 1) // 2
        t = tensor(np.array([rank], np.float32), device)
        dist.all_reduce(t, group=evens)
        check(t, [sum(range(0, size, 2))], exact=True)
        t = tensor(np.array([rank], np.float32), device)
        dist.broadcast(t, src=2 if size > 2 else 0, group=evens)
        check(t, [2 if size > 2 else 0], exact=True)
    objects = []
    dist.all_gather_object(objects, {"rank": rank})
    assert objects == [{"rank": r} for r in range(size)]
    listing = ["x", rank] if rank == 0 else [None, None]
    dist.broadcast_object_list(listing, src=0)
    assert listing == ["x", 0]
    dist.barrier()


def collectives(devices):
    dist.init_process_group("mpi")
    rank, size = dist.get_rank(), dist.get_world_size()
    for device in devices:
        for part in (reductions, movements, point_to_point, groups):
            part(device, rank, size)
    sampler = cltorch.utils.data.DistributedSampler(range(10), shuffle=True, seed=3)
    shares = []
    dist.all_gather_object(shares, list(sampler))
    assert shares == [list(cltorch.utils.data.DistributedSampler(range(10), size, r, seed=3))
                      for r in range(size)]  # the group's size and rank, asked of it
    assert set(sum(shares, [])) == set(range(10)) and len({len(s) for s in shares}) == 1
    report("collectives")


def report(check):
    """Rank 0 prints "ok <check> <ranks>" once every rank got here (one line: the ranks'
    outputs reach the launcher interleaved)."""
    done = []
    dist.all_gather_object(done, dist.get_rank())
    if dist.get_rank() == 0:
        print("ok", check, " ".join(map(str, done)), flush=True)
    dist.destroy_process_group()


def model(seed):
    cltorch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 600), nn.Tanh(), nn.Linear(600, 600), nn.Tanh(),
                         nn.Linear(600, 2))


def ddp(device):
    dist.init_process_group("gloo")
    rank, size = dist.get_rank(), dist.get_world_size()
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((12, 6)).astype(np.float32),
                rng.standard_normal((12, 2)).astype(np.float32)) for _ in range(4)]
    share = slice(rank * 12 // size, (rank + 1) * 12 // size)
    # the reference: one process, the whole batch
    alone = model(0).to(device)
    opt = cltorch.optim.SGD(alone.parameters(), lr=0.05, momentum=0.9)
    want = []
    for x, y in batches:
        opt.zero_grad()
        loss = nn.functional.mse_loss(alone(tensor(x, device)), tensor(y, device))
        loss.backward()
        opt.step()
        want.append(loss.item())
    # every rank starts from other weights: DDP broadcasts rank 0's
    wrapped = nn.parallel.DistributedDataParallel(model(rank).to(device), bucket_cap_mb=1)
    assert len(wrapped._bucket_params) >= 3, [len(b) for b in wrapped._bucket_params]
    opt = cltorch.optim.SGD(wrapped.parameters(), lr=0.05, momentum=0.9)
    got = []
    for i, (x, y) in enumerate(batches):
        opt.zero_grad()
        xs, ys = tensor(x[share], device), tensor(y[share], device)
        if i % 2:  # two micro-batches, the first without communication
            half = xs.shape[0] // 2
            with wrapped.no_sync():
                (nn.functional.mse_loss(wrapped(xs[:half]), ys[:half]) * half /
                 xs.shape[0]).backward()
            local = []  # no communication: each rank holds its own shard's gradient
            dist.all_gather_object(local, wrapped.module[0].bias.grad.cpu().numpy().tolist())
            assert all(g != local[0] for g in local[1:]), "no_sync averaged the gradients"
            loss = nn.functional.mse_loss(wrapped(xs[half:]), ys[half:]) * \
                (xs.shape[0] - half) / xs.shape[0]
            loss.backward()
            loss = loss.detach() + nn.functional.mse_loss(wrapped(xs[:half]), ys[:half]) * \
                half / xs.shape[0]
        else:
            loss = nn.functional.mse_loss(wrapped(xs), ys)
            loss.backward()
        opt.step()
        total = loss.detach().reshape(1).clone()
        dist.all_reduce(total, op=dist.ReduceOp.AVG)
        got.append(total.item())
    np.testing.assert_allclose(got[::2], want[::2], rtol=1e-5)  # the no_sync steps' losses
    np.testing.assert_allclose(got, want, rtol=1e-4)            # are summed after the step
    for mine, theirs in zip(wrapped.module.parameters(), alone.parameters()):
        np.testing.assert_allclose(mine.detach().cpu().numpy(), theirs.detach().cpu().numpy(),
                                   rtol=1e-4, atol=1e-6)
    assert sorted(wrapped.state_dict())[0].startswith("module.")
    unused_parameters(device, rank)
    report("ddp")


class Branches(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 2), nn.Linear(3, 2)

    def forward(self, x, use_b):
        return self.a(x) + (self.b(x) if use_b else 0)


def unused_parameters(device, rank):
    cltorch.manual_seed(0)
    found = nn.parallel.DistributedDataParallel(Branches().to(device),
                                                find_unused_parameters=True)
    x = tensor(np.ones((2, 3), np.float32) * (rank + 1), device)
    found(x, use_b=False).sum().backward()  # b unused on every rank: its grad stays None
    assert found.module.b.weight.grad is None and found.module.a.weight.grad is not None
    found.zero_grad()
    found(x, use_b=rank == 0).sum().backward()  # b used on rank 0 only: averaged everywhere
    size = dist.get_world_size()
    check(found.module.b.weight.grad, np.full((2, 3), 2 * 1.0 / size, np.float32))
    strict = nn.parallel.DistributedDataParallel(Branches().to(device))
    strict(x, use_b=False).sum().backward()
    try:
        strict(x, use_b=True)
    except RuntimeError as error:
        assert "Expected to have finished reduction" in str(error)
    else:
        raise AssertionError("an unused parameter went unnoticed")


def fail():
    dist.init_process_group("mpi")
    t = cltorch.ones(2)
    dist.all_reduce(t)
    if dist.get_rank() == 1:
        raise ValueError("rank 1 fails mid-step")
    dist.all_reduce(t)  # the other ranks wait here for rank 1
    print("not reached", dist.get_rank())


def timeout():
    import datetime
    dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=2))
    if dist.get_rank() == 0:
        dist.all_reduce(cltorch.ones(2))
    else:
        time.sleep(30)
    print("not reached", dist.get_rank())


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "collectives":
        collectives(sys.argv[2:])
    elif what == "ddp":
        ddp(sys.argv[2])
    elif what == "fail":
        fail()
    else:
        timeout()
