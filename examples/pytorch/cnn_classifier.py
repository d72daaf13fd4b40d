"""A CNN digit classifier with a DataLoader, worker processes and checkpoints, in the style of
the classic MNIST example (on scikit-learn's 8x8 digits, shipped with scikit-learn).

Plain PyTorch: a Dataset subclass, DataLoader with num_workers and pin_memory, Conv2d +
Dropout + max_pool2d + log_softmax, nll_loss, Adadelta with StepLR, train/test functions,
``torch.save(model.state_dict())`` each epoch and ``--resume`` from the last checkpoint with
the optimizer and scheduler state.
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from sklearn.datasets import load_digits
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, Dataset


class Digits(Dataset):
    def __init__(self, train):
        digits = load_digits()
        images = (digits.images / 16.0 - 0.5) / 0.5
        cut = 1400
        sl = slice(0, cut) if train else slice(cut, None)
        self.images = images[sl].astype(np.float32)
        self.labels = digits.target[sl].astype(np.int64)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return torch.from_numpy(self.images[i]).unsqueeze(0), int(self.labels[i])


class Net(nn.Module):
    def __init__(self, dropout=0.25):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 1, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, 1, padding=1)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(2 * dropout)
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)


def train(model, device, loader, optimizer, epoch, state):
    model.train()
    for data, target in loader:
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        loss.backward()
        optimizer.step()
        print(f"step {state['step']} loss {loss.item():.9g}")
        state["step"] += 1
        if state["step"] == state["max_steps"]:
            return


def test(model, device, loader):
    model.eval()
    test_loss, correct = 0.0, 0
    with torch.no_grad():
        for data, target in loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            correct += output.argmax(dim=1, keepdim=True).eq(target.view_as(
                output.argmax(dim=1, keepdim=True))).sum().item()
    n = len(loader.dataset)
    print(f"Test set: Average loss: {test_loss / n:.4f}, Accuracy: {correct}/{n} "
          f"({100.0 * correct / n:.0f}%)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=0, help="stop after this many batches")
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--gamma", type=float, default=0.7)
    parser.add_argument("--dropout", type=float, default=0.25)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-shuffle", action="store_true", help="fixed batch order")
    parser.add_argument("--checkpoint", default="digits_cnn.pt")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--init-from", help="load the initial weights from this state dict")
    parser.add_argument("--save-init", help="save the initial weights to this path")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    use_cuda = torch.cuda.is_available()
    device = torch.device("cuda" if use_cuda else "cpu")
    print(f"device {device}")
    kwargs = {"batch_size": args.batch_size, "num_workers": args.workers,
              "pin_memory": use_cuda}
    train_loader = DataLoader(Digits(True), shuffle=not args.no_shuffle, **kwargs)
    test_loader = DataLoader(Digits(False), **kwargs)

    model = Net(args.dropout)
    if args.init_from:
        model.load_state_dict(torch.load(args.init_from))
    if args.save_init:
        torch.save(model.state_dict(), args.save_init)
    model = model.to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)
    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
    first_epoch, state = 1, {"step": 0, "max_steps": args.steps}
    if args.resume and os.path.exists(args.checkpoint):
        checkpoint = torch.load(args.checkpoint, map_location=device)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        first_epoch = checkpoint["epoch"] + 1
        print(f"resumed from epoch {checkpoint['epoch']}")
    for epoch in range(first_epoch, args.epochs + 1):
        train(model, device, train_loader, optimizer, epoch, state)
        test(model, device, test_loader)
        scheduler.step()
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "epoch": epoch}, args.checkpoint)
        if state["step"] == args.steps:
            break


if __name__ == "__main__":
    main()
