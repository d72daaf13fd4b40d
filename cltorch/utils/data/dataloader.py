"""``DataLoader``: batches from a dataset through a sampler and a collate function, loaded in
the main process or in worker processes (results kept in sampler order)."""
from __future__ import annotations

import collections
import contextlib
import itertools
import multiprocessing
import queue
import random

import numpy as np

from .dataset import IterableDataset, TensorDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler

WorkerInfo = collections.namedtuple("WorkerInfo", ["id", "num_workers", "seed", "dataset"])
_worker_info = None


def get_worker_info():
    """In a worker process: (id, num_workers, seed, dataset); in the main process: None."""
    return _worker_info


def default_collate(batch):
    """PyTorch's default collation: tensors and NumPy arrays stacked, numbers to tensors,
    strings kept as lists, dicts / (named) tuples / lists collated field by field."""
    from ... import dtypes
    from ...api.creation import tensor
    from ...api.layout import stack
    from ...tensor import Tensor
    first = batch[0]
    if isinstance(first, Tensor):
        return stack(batch, 0)
    if isinstance(first, np.ndarray):
        if first.dtype.kind in "SUO":
            raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, "
                            f"numbers, dicts or lists; found {first.dtype}")
        return stack([tensor(b) for b in batch], 0)
    if isinstance(first, np.generic):
        return tensor(np.array(batch))
    if isinstance(first, bool):
        return tensor(batch, dtype=dtypes.bool_)
    if isinstance(first, float):
        return tensor(batch, dtype=dtypes.float64)
    if isinstance(first, int):
        return tensor(batch, dtype=dtypes.int64)
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, collections.abc.Mapping):
        return type(first)({key: default_collate([d[key] for d in batch]) for key in first}) \
            if type(first) is not dict else {key: default_collate([d[key] for d in batch])
                                             for key in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        return type(first)(*(default_collate(list(items)) for items in zip(*batch)))
    if isinstance(first, collections.abc.Sequence):
        if any(len(item) != len(first) for item in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(items)) for items in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, "
                    f"dicts or lists; found {type(first)}")


def fetch(dataset, indices, collate_fn):
    """One batch, as PyTorch's fetcher makes it: ``dataset.__getitems__(indices)`` when the
    dataset has it, else one item per index, then ``collate_fn``. A TensorDataset under the
    default collation is indexed once per tensor (the same tensors, one copy each)."""
    if collate_fn is default_collate and isinstance(dataset, TensorDataset) and \
            type(dataset).__getitem__ is TensorDataset.__getitem__:
        batch = dataset.collated_batch(indices)
        if batch is not None:
            return batch
    getitems = getattr(dataset, "__getitems__", None)
    items = getitems(indices) if getitems is not None else [dataset[i] for i in indices]
    return collate_fn(items)


def default_convert(data):
    """Without batching: NumPy arrays become tensors, containers are walked."""
    from ...api.creation import tensor
    return _map_leaves(data, lambda d: tensor(d) if isinstance(d, np.ndarray) else d)


def _map_leaves(data, leaf):
    """``data`` with ``leaf`` applied to everything that is not a dict, list or (named)
    tuple, those rebuilt around the results."""
    if isinstance(data, collections.abc.Mapping):
        return {k: _map_leaves(v, leaf) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(_map_leaves(d, leaf) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(_map_leaves(d, leaf) for d in data)
    return leaf(data)


def pin_memory(data):
    """``data`` (a batch) with every tensor in pinned memory, containers walked as
    ``default_convert`` walks them: the batch's ``to(device, non_blocking=True)`` then does
    not wait for its copies."""
    from ...tensor import Tensor
    return _map_leaves(data, lambda d: d.pin_memory() if isinstance(d, Tensor) else d)


def _pinned(batches):
    with contextlib.closing(batches):  # a ``break`` still ends the epoch (and its workers)
        for batch in batches:
            yield pin_memory(batch)


class DataLoader:
    """Iterate over ``dataset`` in batches, as ``torch.utils.data.DataLoader``."""

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, pin_memory_device=""):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                             "disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in "
                             "multiprocessing.let num_workers > 0 to enable multiprocessing, "
                             "otherwise set prefetch_factor to None.")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        iterable = isinstance(dataset, IterableDataset)
        if iterable and (shuffle or sampler is not None or batch_sampler is not None):
            raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle, "
                             "sampler and batch_sampler options")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or
                                          drop_last):
            raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                             "shuffle, sampler, and drop_last")
        self.dataset, self.num_workers, self.timeout = dataset, num_workers, timeout
        self.worker_init_fn, self.generator, self.pin_memory = worker_init_fn, generator, \
            pin_memory
        self.prefetch_factor = 2 if prefetch_factor is None and num_workers else prefetch_factor
        self.persistent_workers, self.multiprocessing_context = persistent_workers, \
            multiprocessing_context
        self.drop_last, self._iterable = drop_last, iterable
        if batch_sampler is None and not iterable:
            if sampler is None:
                sampler = RandomSampler(dataset, generator=generator) if shuffle else \
                    SequentialSampler(dataset)
            if batch_size is not None:
                batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = batch_size if batch_sampler is None or batch_size is None else \
            getattr(batch_sampler, "batch_size", batch_size)
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.collate_fn = collate_fn or (default_collate if batch_size is not None or
                                         batch_sampler is not None else default_convert)
        self._pool = None

    def __len__(self):
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler) if self.batch_sampler is not None else len(self.sampler)

    def __iter__(self):
        if self.num_workers == 0:
            batches = self._single_process()
        else:
            pool = self._pool if self.persistent_workers and self._pool else _WorkerPool(self)
            if self.persistent_workers:
                self._pool = pool
            batches = pool.epoch()
        return _pinned(batches) if self.pin_memory else batches

    def _single_process(self):
        if self._iterable:
            stream = iter(self.dataset)
            if self.batch_size is None:
                yield from (self.collate_fn(item) for item in stream)
                return
            while True:
                batch = list(itertools.islice(stream, self.batch_size))
                if not batch or (self.drop_last and len(batch) < self.batch_size):
                    return
                yield self.collate_fn(batch)
        keys = self.batch_sampler if self.batch_sampler is not None else self.sampler
        for key in keys:
            if self.batch_sampler is not None:
                yield fetch(self.dataset, key, self.collate_fn)
            else:
                yield self.collate_fn(self.dataset[key])

    def _base_seed(self):
        from ...api.random import randint
        return int(randint(0, 2 ** 62, (1,), generator=self.generator).item())

    def __del__(self):
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown()


class _WorkerPool:
    """Worker processes fed with batches of indices; results come back through one queue and
    are handed out in order."""

    def __init__(self, loader):
        self.loader = loader
        context = multiprocessing.get_context(loader.multiprocessing_context)
        self.results = context.Queue()
        self.tasks = [context.Queue() for _ in range(loader.num_workers)]
        seed = loader._base_seed()
        self.workers = [context.Process(target=_worker_loop, daemon=True, args=(
            loader.dataset, loader.collate_fn, self.tasks[i], self.results, i,
            loader.num_workers, seed + i, loader.worker_init_fn, loader._iterable,
            loader.batch_size, loader.drop_last)) for i in range(loader.num_workers)]
        for w in self.workers:
            w.start()
        self.epoch_number = 0

    def epoch(self):
        """One pass over the data; the workers stop when it ends, fails or is abandoned (a
        ``break`` closes this generator), unless they are persistent."""
        self.epoch_number += 1
        try:
            if self.loader._iterable:
                yield from self._iterable_epoch()
            else:
                yield from self._map_epoch()
        except BaseException:
            self.shutdown()  # a failed epoch never leaves workers behind, persistent or not
            raise
        finally:
            if not self.loader.persistent_workers:
                self.shutdown()

    _POLL = 0.2  # seconds between checks that the workers are alive

    def _get(self):
        """The next result. Waits in short slices, so that a worker that died (a signal,
        ``os._exit``, a failing ``worker_init_fn``) or the ``timeout`` is noticed promptly."""
        import time
        deadline = time.monotonic() + self.loader.timeout if self.loader.timeout else None
        while True:
            try:
                result = self.results.get(timeout=self._POLL)
            except queue.Empty:
                self._check_workers()
                if deadline is not None and time.monotonic() > deadline:
                    raise RuntimeError(f"DataLoader timed out after {self.loader.timeout} "
                                       f"seconds") from None
                continue
            if result[0] == "fatal":  # the worker could not start serving
                _reraise(result[2], f"in DataLoader worker process {result[1]}")
            return result

    def _check_workers(self):
        dead = [w for w in self.workers if not w.is_alive()]
        if dead:
            pids = ", ".join(str(w.pid) for w in dead)
            codes = [w.exitcode for w in dead]
            how = f" is killed by signal: {_signal_name(-codes[0])}." if codes[0] < 0 else \
                " exited unexpectedly"
            raise RuntimeError(f"DataLoader worker (pid(s) {pids}){how}")

    def _map_epoch(self):
        keys = iter(self.loader.batch_sampler if self.loader.batch_sampler is not None else
                    self.loader.sampler)
        sent, done, pending = 0, 0, {}
        ahead = self.loader.prefetch_factor * self.loader.num_workers
        for key in itertools.islice(keys, ahead):
            self.tasks[sent % len(self.tasks)].put((self.epoch_number, sent, key))
            sent += 1
        while done < sent:
            while done not in pending:
                epoch, number, payload, error = self._get()
                if epoch == self.epoch_number:
                    pending[number] = (payload, error)
            payload, error = pending.pop(done)
            if error is not None:
                _reraise(error, f"in DataLoader worker process {done % len(self.tasks)}")
            done += 1
            key = next(keys, None)
            if key is not None:
                self.tasks[sent % len(self.tasks)].put((self.epoch_number, sent, key))
                sent += 1
            yield payload

    def _iterable_epoch(self):
        for task in self.tasks:
            task.put((self.epoch_number, None, None))
        running = len(self.tasks)
        while running:
            epoch, number, payload, error = self._get()
            if error is not None:
                _reraise(error, "in DataLoader worker process")
            if number is None:
                running -= 1
            else:
                yield payload

    def shutdown(self):
        for task in self.tasks:
            try:
                task.put(None)
            except (OSError, ValueError):
                pass
        for w in self.workers:
            w.join(timeout=5)
            if w.is_alive():
                w.terminate()
                w.join(timeout=5)


def _signal_name(number: int) -> str:
    import signal
    try:
        return {signal.SIGKILL: "Killed", signal.SIGTERM: "Terminated",
                signal.SIGSEGV: "Segmentation fault"}.get(number) or signal.Signals(number).name
    except ValueError:
        return str(number)


def _reraise(error, where):
    """Raise a worker's exception in the main process as PyTorch does: the original type,
    with the worker's traceback in the message (RuntimeError when the type will not take a
    message)."""
    exc_type, text = error
    message = f"Caught {exc_type.__name__} {where}.\nOriginal {text}"
    try:
        exception = exc_type(message)
    except Exception:
        exception = RuntimeError(message)
    raise exception


def _worker_loop(dataset, collate_fn, tasks, results, worker_id, num_workers, seed, init_fn,
                 iterable, batch_size, drop_last):
    """A worker process: seed, run worker_init_fn, then serve batches until told to stop."""
    global _worker_info
    import traceback
    from ...api.random import manual_seed
    random.seed(seed)
    manual_seed(seed)
    _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
    if init_fn is not None:
        try:
            init_fn(worker_id)
        except Exception as exc:  # the main process raises it at once
            results.put(("fatal", worker_id, (_picklable_type(exc), traceback.format_exc())))
            return
    while True:
        task = tasks.get()
        if task is None:
            return
        epoch, number, key = task
        try:
            if iterable:
                stream = iter(dataset)
                count = 0
                while True:
                    items = list(itertools.islice(stream, batch_size or 1))
                    if not items or (drop_last and batch_size and len(items) < batch_size):
                        break
                    results.put((epoch, count, collate_fn(items if batch_size else items[0]),
                                 None))
                    count += 1
                results.put((epoch, None, None, None))
                continue
            batch = fetch(dataset, key, collate_fn) if isinstance(key, list) else \
                collate_fn(dataset[key])
            results.put((epoch, number, batch, None))
        except Exception as exc:  # sent to the main process, which raises it
            results.put((epoch, number, None, (_picklable_type(exc), traceback.format_exc())))


def _picklable_type(exc):
    """The exception's type if it can travel to the main process, else RuntimeError."""
    import pickle
    try:
        pickle.dumps(type(exc))
        return type(exc)
    except Exception:
        return RuntimeError
