"""``DistributedSampler``: each of ``num_replicas`` processes reads its own share of a dataset.

The split is PyTorch's: a permutation seeded by ``seed + epoch`` (``set_epoch``), padded by
repetition (or trimmed with ``drop_last``) to a multiple of the replica count, then every
``num_replicas``-th index from ``rank``. Without explicit ``num_replicas``/``rank`` it asks
the process group, as PyTorch does (``cltorch.distributed``). The permutation is PyTorch's own
(``_pytorch_permutation``), so each rank reads the same samples in the same order as under
PyTorch.
"""
from __future__ import annotations

import math

import numpy as np

from .sampler import Sampler


class DistributedSampler(Sampler):
    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False):
        from ... import distributed as dist
        num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
        rank = dist.get_rank() if rank is None else rank
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.epoch, self.drop_last, self.shuffle, self.seed = 0, drop_last, shuffle, seed
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            indices = _pytorch_permutation(n, self.seed + self.epoch)
        else:
            indices = list(range(n))
        if not self.drop_last:
            padding = self.total_size - len(indices)
            if padding <= len(indices):
                indices += indices[:padding]
            else:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Make the next epoch's shuffle differ (same on every replica)."""
        self.epoch = epoch


def _pytorch_permutation(n: int, seed: int) -> list:
    """``torch.randperm(n, generator=torch.Generator().manual_seed(seed))``, hand-written for
    PyTorch parity (cltorch's own generator is not PyTorch's): PyTorch's CPU generator is
    MT19937 seeded as NumPy's legacy RandomState seeds it, and its randperm swaps element i
    with element i + (a 32-bit draw mod (n - i)); equal to torch 2.13's for n = 10, 100 and
    1797. PyTorch draws 64 bits for n of 2^32 / 20 and more: there, a permutation of our own."""
    if n >= (1 << 32) // 20:
        from ...api.random import Generator, randperm
        return randperm(n, generator=Generator().manual_seed(seed)).tolist()
    draws = np.random.RandomState(seed & 0xFFFFFFFF).randint(0, 1 << 32, size=max(n - 1, 0),
                                                             dtype=np.uint64)
    order = list(range(n))
    for i, z in enumerate((draws % np.arange(n, 1, -1, dtype=np.uint64)).tolist()):
        order[i], order[i + z] = order[i + z], order[i]
    return order
