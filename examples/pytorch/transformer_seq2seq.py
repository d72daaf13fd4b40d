"""A sequence-to-sequence nn.Transformer that learns to reverse digit strings.

Plain PyTorch, in the style of the classic translation tutorial: token embeddings scaled by
sqrt(d_model), sinusoidal positional encoding (a registered buffer), nn.Transformer with
batch_first, a causal target mask from generate_square_subsequent_mask, key padding masks,
CrossEntropyLoss with ignore_index for padding, Adam with a step LR schedule, and greedy
decoding under torch.no_grad(). Sequences come from a seeded NumPy generator.
"""
import argparse
import math

import numpy as np
import torch
import torch.nn as nn

PAD, BOS, EOS = 0, 1, 2  # digits are tokens 3..12


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, dropout=0.1, max_len=64):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe.unsqueeze(0))

    def forward(self, x):
        return self.dropout(x + self.pe[:, :x.size(1)])


class Seq2Seq(nn.Module):
    def __init__(self, vocab, d_model, nhead, layers, dropout):
        super().__init__()
        self.d_model = d_model
        self.embed = nn.Embedding(vocab, d_model, padding_idx=PAD)
        self.pos = PositionalEncoding(d_model, dropout)
        self.transformer = nn.Transformer(d_model, nhead, layers, layers, 4 * d_model, dropout,
                                          batch_first=True)
        self.out = nn.Linear(d_model, vocab)

    def encode(self, src):
        return self.pos(self.embed(src) * math.sqrt(self.d_model))

    def forward(self, src, tgt_in):
        tgt_mask = nn.Transformer.generate_square_subsequent_mask(tgt_in.size(1),
                                                                  device=src.device)
        hidden = self.transformer(self.encode(src), self.encode(tgt_in), tgt_mask=tgt_mask,
                                  src_key_padding_mask=src == PAD,
                                  tgt_key_padding_mask=tgt_in == PAD,
                                  memory_key_padding_mask=src == PAD)
        return self.out(hidden)

    @torch.no_grad()
    def greedy_decode(self, src, max_len):
        ys = torch.full((src.size(0), 1), BOS, dtype=torch.long, device=src.device)
        for _ in range(max_len):
            logits = self(src, ys)
            ys = torch.cat([ys, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
        return ys[:, 1:]


def make_batch(rng, batch_size, max_len, device):
    """Random digit strings (padded) and their reversals framed by BOS/EOS."""
    lengths = rng.integers(3, max_len + 1, size=batch_size)
    src = np.full((batch_size, max_len), PAD)
    tgt = np.full((batch_size, max_len + 2), PAD)
    for b, n in enumerate(lengths):
        digits = rng.integers(3, 13, size=n)
        src[b, :n] = digits
        tgt[b, 0], tgt[b, 1:n + 1], tgt[b, n + 1] = BOS, digits[::-1], EOS
    return (torch.tensor(src, dtype=torch.long, device=device),
            torch.tensor(tgt, dtype=torch.long, device=device))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-len", type=int, default=6)
    parser.add_argument("--d-model", type=int, default=32)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init-from", help="load the initial weights from this state dict")
    parser.add_argument("--save-init", help="save the initial weights to this path")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"device {device}")
    model = Seq2Seq(13, args.d_model, 4, 2, args.dropout)
    if args.init_from:
        model.load_state_dict(torch.load(args.init_from))
    if args.save_init:
        torch.save(model.state_dict(), args.save_init)
    model.to(device)
    criterion = nn.CrossEntropyLoss(ignore_index=PAD)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.98), eps=1e-9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=100, gamma=0.5)
    for step in range(args.steps):
        model.train()
        src, tgt = make_batch(rng, args.batch_size, args.max_len, device)
        logits = model(src, tgt[:, :-1])
        loss = criterion(logits.reshape(-1, logits.size(-1)), tgt[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        print(f"step {step} loss {loss.item():.9g}")
    model.eval()
    src, tgt = make_batch(rng, 8, args.max_len, device)
    decoded = model.greedy_decode(src, args.max_len + 1)
    exact = (decoded[:, :args.max_len + 1] == tgt[:, 1:]) | (tgt[:, 1:] == PAD)
    print(f"reversed exactly: {exact.all(dim=1).float().mean().item():.2f}")


if __name__ == "__main__":
    main()
