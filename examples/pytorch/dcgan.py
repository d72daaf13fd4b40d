"""DCGAN training steps on scikit-learn's 8x8 digits, in the style of the classic DCGAN
example.

Plain PyTorch: a ConvTranspose2d generator and a Conv2d discriminator with BatchNorm2d and
LeakyReLU(0.2, inplace=True), weights initialised through ``model.apply(weights_init)``,
BCELoss, two Adam optimizers with betas (0.5, 0.999), labels made with torch.full and
``fill_``, the discriminator fed ``fake.detach()``. The latent noise comes from a seeded NumPy
generator so that every framework draws the same noise.
"""
import argparse

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from sklearn.datasets import load_digits

nz, ngf, ndf = 16, 32, 32


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 2, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, 1, 4, 2, 1, bias=False),
            nn.Tanh())

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(1, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 3, 1, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, 1, 4, 1, 0, bias=False),
            nn.Sigmoid())

    def forward(self, input):
        return self.main(input)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.0002)
    parser.add_argument("--seed", type=int, default=999)
    parser.add_argument("--init-from", help="load the initial weights (netG, netD)")
    parser.add_argument("--save-init", help="save the initial weights to this path")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    print(f"device {device}")
    images = load_digits().images / 8.0 - 1.0  # 0..16 -> -1..1, as Tanh produces
    data = torch.tensor(images, dtype=torch.float32).unsqueeze(1)

    netG, netD = Generator(), Discriminator()
    netG.apply(weights_init)
    netD.apply(weights_init)
    if args.init_from:
        state = torch.load(args.init_from)
        netG.load_state_dict(state["netG"])
        netD.load_state_dict(state["netD"])
    if args.save_init:
        torch.save({"netG": netG.state_dict(), "netD": netD.state_dict()}, args.save_init)
    netG.to(device)
    netD.to(device)
    criterion = nn.BCELoss()
    real_label, fake_label = 1.0, 0.0
    optimizerD = optim.Adam(netD.parameters(), lr=args.lr, betas=(0.5, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=args.lr, betas=(0.5, 0.999))

    for step in range(args.steps):
        start = (step * args.batch_size) % (len(data) - args.batch_size)
        real = data[start:start + args.batch_size].to(device)
        b_size = real.size(0)
        noise = torch.from_numpy(rng.standard_normal((b_size, nz, 1, 1)).astype(np.float32))
        noise = noise.to(device)
        # (1) Update D: maximize log(D(x)) + log(1 - D(G(z)))
        netD.zero_grad()
        label = torch.full((b_size,), real_label, dtype=torch.float, device=device)
        errD_real = criterion(netD(real).view(-1), label)
        errD_real.backward()
        fake = netG(noise)
        label.fill_(fake_label)
        errD_fake = criterion(netD(fake.detach()).view(-1), label)
        errD_fake.backward()
        errD = errD_real + errD_fake
        optimizerD.step()
        # (2) Update G: maximize log(D(G(z)))
        netG.zero_grad()
        label.fill_(real_label)
        errG = criterion(netD(fake).view(-1), label)
        errG.backward()
        optimizerG.step()
        print(f"step {step} loss {errD.item():.9g} {errG.item():.9g}")


if __name__ == "__main__":
    main()
