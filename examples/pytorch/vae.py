"""A variational autoencoder on scikit-learn's 8x8 digits, in the style of the classic VAE
example.

Plain PyTorch: fully connected encoder to (mu, logvar), the reparameterisation trick, a
sigmoid decoder, binary cross entropy (summed) plus the KL divergence, Adam, a DataLoader over
a TensorDataset, a no_grad test pass and samples decoded from the prior. The noise of the
reparameterisation is drawn from a seeded NumPy generator (so that every framework draws the
same noise); everything else is the usual program.
"""
import argparse

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset


class VAE(nn.Module):
    def __init__(self, latent=8):
        super().__init__()
        self.fc1 = nn.Linear(64, 128)
        self.fc21 = nn.Linear(128, latent)
        self.fc22 = nn.Linear(128, latent)
        self.fc3 = nn.Linear(latent, 128)
        self.fc4 = nn.Linear(128, 64)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar, eps):
        std = torch.exp(0.5 * logvar)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x, eps):
        mu, logvar = self.encode(x.view(-1, 64))
        z = self.reparameterize(mu, logvar, eps)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 64), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=0, help="stop after this many batches")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--init-from", help="load the initial weights from this state dict")
    parser.add_argument("--save-init", help="save the initial weights to this path")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    noise = np.random.default_rng(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"device {device}")
    digits = load_digits()
    images = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    train = TensorDataset(images[:1500])
    test = TensorDataset(images[1500:])
    train_loader = DataLoader(train, batch_size=args.batch_size, shuffle=False)
    test_loader = DataLoader(test, batch_size=args.batch_size)

    model = VAE()
    if args.init_from:
        model.load_state_dict(torch.load(args.init_from))
    if args.save_init:
        torch.save(model.state_dict(), args.save_init)
    model = model.to(device)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)

    def eps_like(batch):
        return torch.from_numpy(noise.standard_normal((batch, 8)).astype(np.float32)).to(device)

    step = 0
    for epoch in range(1, args.epochs + 1):
        model.train()
        train_loss = 0.0
        for (data,) in train_loader:
            data = data.to(device)
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data, eps_like(len(data)))
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
            print(f"step {step} loss {loss.item():.9g}")
            step += 1
            if step == args.steps:
                break
        model.eval()
        test_loss = 0.0
        with torch.no_grad():
            for (data,) in test_loader:
                data = data.to(device)
                recon, mu, logvar = model(data, eps_like(len(data)))
                test_loss += loss_function(recon, data, mu, logvar).item()
        print(f"====> Epoch {epoch} train loss {train_loss / len(train):.4f} test loss "
              f"{test_loss / len(test):.4f}")
        if step == args.steps:
            break
    with torch.no_grad():
        sample = model.decode(eps_like(4)).cpu()
    print("sample pixel means:", [round(v, 3) for v in sample.mean(dim=1).tolist()])


if __name__ == "__main__":
    main()
