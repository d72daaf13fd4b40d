"""Train a LeNet-style CNN on scikit-learn's 8x8 digits with cltorch, PyTorch-style.

    python examples/train_digits.py [--device cpu|opencl|cuda] [--epochs 12]
                                    [--checkpoint digits.pt] [--resume] [--compile]

conv-pool-conv-pool-fc-fc-fc, SGD with momentum and cross entropy, a progress bar, loss and
accuracy per epoch, a checkpoint after every epoch (``--resume`` continues from it) and the
accuracy on a held-out test set at the end. ``--compile`` runs the training step through
``torch.compile`` (captured once, then replayed).
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import cltorch as torch
import cltorch.nn as nn
import cltorch.nn.functional as F
from cltorch.utils.data import DataLoader, TensorDataset


class LeNet(nn.Module):
    """LeNet-5's layout, sized for 8x8 images."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3, padding=1)   # 8x8 -> 8x8, pooled to 4x4
        self.conv2 = nn.Conv2d(6, 16, 3, padding=1)  # 4x4 -> 4x4, pooled to 2x2
        self.fc1 = nn.Linear(16 * 2 * 2, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def best_device() -> str:
    """A GPU when there is one (CUDA, then OpenCL), else the NumPy cpu backend (on a CPU it
    beats a CPU OpenCL device for a network this small)."""
    if torch.cuda.is_available():
        return "cuda"
    from cltorch.backend import registry
    for dev in registry.all_devices():
        if dev.kind == "opencl" and not dev.cpu_like:
            return dev.name
    return "cpu"


def datasets(seed: int):
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8) in [0, 1]
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=0.25, random_state=seed, stratify=digits.target)
    mean, std = x_train.mean(), x_train.std()
    return (TensorDataset(torch.tensor((x_train - mean) / std), torch.tensor(y_train)),
            TensorDataset(torch.tensor((x_test - mean) / std), torch.tensor(y_test)))


def evaluate(model, loader, device):
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            predicted = model(x.to(device)).argmax(1)
            correct += int((predicted == y.to(device)).sum().item())
            total += y.shape[0]
    return correct / total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu, opencl[:N], cuda[:N] (default: "
                                                       "the best available)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--checkpoint", default="digits-checkpoint.pt")
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compile", action="store_true",
                        help="capture the training step with torch.compile and replay it")
    args = parser.parse_args()

    device = args.device or best_device()
    print(f"training on {device} ({torch.device(device)})")
    torch.manual_seed(args.seed)
    train_set, test_set = datasets(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                              generator=generator)
    test_loader = DataLoader(test_set, batch_size=256)
    model = LeNet().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    first_epoch = 0
    if args.resume and os.path.exists(args.checkpoint):
        state = torch.load(args.checkpoint, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        first_epoch = state["epoch"]
        print(f"resumed from {args.checkpoint} after epoch {first_epoch}")

    def train_step(x, y):
        optimizer.zero_grad()
        logits = model(x)
        loss = loss_fn(logits, y)
        loss.backward()
        optimizer.step()
        return loss, logits

    step = torch.compile(train_step) if args.compile else train_step
    start = time.perf_counter()
    for epoch in range(first_epoch, args.epochs):
        for group in optimizer.param_groups:  # halve the learning rate every 5 epochs
            group["lr"] = args.lr * 0.5 ** (epoch // 5)
        model.train()
        total_loss, correct, seen = 0.0, 0, 0
        for x, y in tqdm(train_loader, desc=f"epoch {epoch + 1}/{args.epochs}", leave=False):
            x, y = x.to(device), y.to(device)
            loss, logits = step(x, y)
            total_loss += loss.item() * y.shape[0]
            correct += int((logits.argmax(1) == y).sum().item())
            seen += y.shape[0]
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "epoch": epoch + 1}, args.checkpoint)
        print(f"epoch {epoch + 1:2d}: loss {total_loss / seen:.4f}, train accuracy "
              f"{correct / seen:.3f}, test accuracy {evaluate(model, test_loader, device):.3f}")
    accuracy = evaluate(model, test_loader, device)
    print(f"held-out test accuracy: {accuracy:.3f} ({len(test_set)} images), training took "
          f"{time.perf_counter() - start:.1f} s")
    return accuracy


if __name__ == "__main__":
    main()
