"""Data-parallel training with DistributedDataParallel, in the style of PyTorch's DDP tutorial:
a classifier of scikit-learn's 8x8 digits, one process a replica.

Plain PyTorch, launched by torchrun under PyTorch and by ``cltorch run -n 2 ddp_train.py`` (or
``mpirun -n 2 cltorch run ddp_train.py``) under cltorch: ``init_process_group`` (nccl on GPUs,
else gloo), each rank on its ``LOCAL_RANK``'s GPU, a ``DistributedSampler`` giving each rank its
share of every global batch (``--batch-size`` is the global batch), ``set_epoch``, DDP around
the model, the loss averaged over the ranks for printing, and a check that every rank ends with
the same weights. Without shuffling, N ranks see together exactly the batches one process sees,
so the printed losses do not depend on the number of ranks.
"""
import argparse
import os

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn, optim
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                                 nn.Linear(64, 10))

    def forward(self, x):
        return self.net(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64, help="global batch (all ranks)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=0, help="stop after this many batches")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--shuffle", action="store_true")
    parser.add_argument("--init-from", help="load the initial weights from this state dict")
    parser.add_argument("--save-init", help="save the initial weights to this path")
    args = parser.parse_args()

    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if args.batch_size % world:
        raise SystemExit(f"--batch-size {args.batch_size} does not split over {world} ranks")
    if rank == 0:
        print(f"device {device.type} ranks {world}")

    digits = load_digits()
    dataset = TensorDataset(torch.tensor(digits.data / 16.0, dtype=torch.float32),
                            torch.tensor(digits.target))
    sampler = DistributedSampler(dataset, shuffle=args.shuffle, seed=1)
    loader = DataLoader(dataset, batch_size=args.batch_size // world, sampler=sampler)

    torch.manual_seed(rank)  # different on every rank: DDP starts them all from rank 0's
    model = Classifier()
    if args.init_from:
        model.load_state_dict(torch.load(args.init_from))
    if args.save_init and rank == 0:
        torch.save(model.state_dict(), args.save_init)
    model = model.to(device)
    ddp = DDP(model, device_ids=[device] if device.type == "cuda" else None)
    optimizer = optim.SGD(ddp.parameters(), lr=args.lr, momentum=0.9)

    step = 0
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            loss = F.cross_entropy(ddp(x), y)
            loss.backward()
            optimizer.step()
            mean = loss.detach().clone()
            dist.all_reduce(mean)
            if rank == 0:
                print(f"step {step} loss {mean.item() / world:.9g}")
            step += 1
            if step == args.steps:
                break
        if step == args.steps:
            break

    checksum = [float(p.detach().double().sum().cpu()) for p in model.parameters()]
    every = [None] * world
    dist.all_gather_object(every, checksum)
    if any(c != every[0] for c in every):
        raise RuntimeError(f"the ranks' weights differ: {every}")
    if rank == 0:
        print(f"weights equal on all {world} ranks")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
