"""Mixed-precision training with autocast and GradScaler, as the automatic mixed precision
recipe writes it.

Plain PyTorch: the forward pass and loss under ``torch.autocast(device_type, dtype)``
(float16 with a GradScaler on a GPU, bfloat16 on the CPU), ``scaler.scale(loss).backward()``,
``scaler.unscale_`` before gradient clipping, ``scaler.step`` / ``scaler.update``, and the
scaler's state saved in the checkpoint beside the model and optimizer. The data is
scikit-learn's digits.
"""
import argparse

import torch
import torch.nn as nn
from sklearn.datasets import load_digits


def make_model():
    return nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, 10))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--amp-dtype", choices=["auto", "float16", "bfloat16"], default="auto")
    parser.add_argument("--checkpoint", default="amp_checkpoint.pt")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init-from", help="load the initial weights from this state dict")
    parser.add_argument("--save-init", help="save the initial weights to this path")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.amp_dtype == "auto":
        amp_dtype = torch.float16 if device == "cuda" else torch.bfloat16
    else:
        amp_dtype = getattr(torch, args.amp_dtype)
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32, device=device)
    y = torch.tensor(digits.target, dtype=torch.long, device=device)

    model = make_model()
    if args.init_from:
        model.load_state_dict(torch.load(args.init_from))
    if args.save_init:
        torch.save(model.state_dict(), args.save_init)
    model.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    scaler = torch.amp.GradScaler(device, enabled=amp_dtype == torch.float16)
    print(f"device {device}, autocast {amp_dtype}, grad scaling {scaler.is_enabled()}")

    for step in range(args.steps):
        start = (step * args.batch_size) % (len(x) - args.batch_size)
        inputs, targets = x[start:start + args.batch_size], y[start:start + args.batch_size]
        with torch.autocast(device_type=device, dtype=amp_dtype):
            output = model(inputs)
            assert output.dtype is amp_dtype
            loss = loss_fn(output, targets)
            assert loss.dtype is torch.float32
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        print(f"step {step} loss {loss.item():.9g}")

    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict()}, args.checkpoint)
    checkpoint = torch.load(args.checkpoint)
    scaler.load_state_dict(checkpoint["scaler"])
    with torch.no_grad(), torch.autocast(device_type=device, dtype=amp_dtype):
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    print(f"training accuracy {accuracy:.3f}, loss scale {scaler.get_scale()}")


if __name__ == "__main__":
    main()
