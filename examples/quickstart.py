"""Quickstart: tensors and pointwise math on the best available device.

Run: python examples/quickstart.py [device]    (default: the first GPU, else opencl, else cpu)
"""
import sys

import numpy as np

import cltorch as torch


def best_device() -> str:
    for kind in ("cuda", "opencl"):
        if getattr(torch, kind).is_available():
            return f"{kind}:0"
    return "cpu"


def main(device: str) -> None:
    print(f"cltorch {torch.__version__} on {device} ({torch.backend.get(device).info().name})")
    x = torch.linspace(-3, 3, 7, device=device)
    y = torch.arange(7, device=device).float()
    print("x          =", x)
    print("sigmoid(x) =", x.sigmoid())
    print("x * y + 1  =", x * y + 1)
    grid = x.view(7, 1) * y.view(1, 7)          # broadcasting
    print("grid.t()[:2] =", grid.t()[:2])       # views: no copy
    half = x.half().exp()                       # float16 stored in 16 bits, computed in fp32
    print("exp(x) in float16 =", half)
    mask = torch.where(x > 0, x, torch.zeros_like(x))
    reference = np.where(x.cpu().numpy() > 0, x.cpu().numpy(), 0)
    assert np.allclose(mask.cpu().numpy(), reference)
    print("relu via where matches NumPy:", mask.tolist())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else best_device())
