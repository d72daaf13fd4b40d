"""``cltorch.multiprocessing`` (``torch.multiprocessing``): Python's multiprocessing, whose
pickling already carries tensors (their values, dtype and device), plus ``spawn``."""
from __future__ import annotations

import multiprocessing as _mp
from multiprocessing import *  # noqa: F401,F403

_sharing_strategy = ["file_system"]


def get_all_sharing_strategies() -> set:
    return {"file_system", "file_descriptor"}


def get_sharing_strategy() -> str:
    return _sharing_strategy[0]


def set_sharing_strategy(strategy: str) -> None:
    """Accepted: tensors travel to other processes by pickling, whatever the strategy."""
    if strategy not in get_all_sharing_strategies():
        raise ValueError(f"Unsupported sharing strategy {strategy}")
    _sharing_strategy[0] = strategy


def spawn(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """Run ``fn(i, *args)`` in ``nprocs`` new processes; raise if any of them fails."""
    context = _mp.get_context(start_method)
    processes = [context.Process(target=fn, args=(i, *args), daemon=daemon)
                 for i in range(nprocs)]
    for p in processes:
        p.start()
    if not join:
        return processes
    for p in processes:
        p.join()
    failed = [(i, p.exitcode) for i, p in enumerate(processes) if p.exitcode != 0]
    if failed:
        raise _mp.ProcessError(f"process {failed[0][0]} terminated with exit code "
                               f"{failed[0][1]}")
    return None
