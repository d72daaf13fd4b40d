"""``cltorch.utils.data``: datasets, samplers and the DataLoader, as in PyTorch."""
from .dataloader import DataLoader, default_collate, default_convert, get_worker_info
from .dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset,
                      TensorDataset, random_split)
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,
                      SubsetRandomSampler, WeightedRandomSampler)
from . import distributed  # noqa: E402,F401
from .distributed import DistributedSampler  # noqa: E402,F401
