"""An LSTM that learns sine waves, trained with L-BFGS in float64, in the style of the
classic time-sequence-prediction example.

Plain PyTorch: two stacked nn.LSTMCell layers and a Linear head, unrolled by hand over the
sequence and then on its own predictions for ``future`` steps; the model is cast with
``.double()``; optim.LBFGS with a closure; validation under torch.no_grad(). The waves are
generated with a seeded NumPy generator.
"""
import argparse

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim


class Sequence(nn.Module):
    def __init__(self, hidden=51):
        super().__init__()
        self.hidden = hidden
        self.lstm1 = nn.LSTMCell(1, hidden)
        self.lstm2 = nn.LSTMCell(hidden, hidden)
        self.linear = nn.Linear(hidden, 1)

    def forward(self, input, future=0):
        outputs = []
        n = input.size(0)
        h_t = torch.zeros(n, self.hidden, dtype=torch.double, device=input.device)
        c_t = torch.zeros(n, self.hidden, dtype=torch.double, device=input.device)
        h_t2 = torch.zeros(n, self.hidden, dtype=torch.double, device=input.device)
        c_t2 = torch.zeros(n, self.hidden, dtype=torch.double, device=input.device)
        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for _ in range(future):  # predict the future from its own outputs
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        return torch.cat(outputs, dim=1)


def make_waves(rng, n=24, length=60, period=20):
    x = np.empty((n, length), np.int64)
    x[:] = np.arange(length) + rng.integers(-4 * period, 4 * period, n).reshape(n, 1)
    return np.sin(x / period).astype(np.float64)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="L-BFGS steps")
    parser.add_argument("--hidden", type=int, default=24)
    parser.add_argument("--future", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init-from", help="load the initial weights from this state dict")
    parser.add_argument("--save-init", help="save the initial weights to this path")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"device {device}")
    data = make_waves(np.random.default_rng(args.seed))
    input = torch.from_numpy(data[3:, :-1]).to(device)
    target = torch.from_numpy(data[3:, 1:]).to(device)
    test_input = torch.from_numpy(data[:3, :-1]).to(device)
    test_target = torch.from_numpy(data[:3, 1:]).to(device)
    seq = Sequence(args.hidden).double()
    if args.init_from:
        seq.load_state_dict(torch.load(args.init_from))
    if args.save_init:
        torch.save(seq.state_dict(), args.save_init)
    seq.to(device)
    criterion = nn.MSELoss()
    optimizer = optim.LBFGS(seq.parameters(), lr=0.8, max_iter=4)
    for step in range(args.steps):
        def closure():
            optimizer.zero_grad()
            loss = criterion(seq(input), target)
            loss.backward()
            return loss
        loss = optimizer.step(closure)
        print(f"step {step} loss {loss.item():.12g}")
        with torch.no_grad():
            pred = seq(test_input, future=args.future)
            test_loss = criterion(pred[:, :-args.future], test_target)
        print(f"test loss {test_loss.item():.6g}, predicted {pred.size(1)} points")


if __name__ == "__main__":
    main()
