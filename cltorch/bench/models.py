"""The model cases: a training step (forward, loss, backward, optimizer step) and an inference
step of the main job's LeNet, a small ResNet (ResNet-18 layout at 32x32), a small GPT (4 layers,
d=256, context 128) and an LSTM language model. One definition serves cltorch and PyTorch
(``lib`` is either), so both run the same model."""
from __future__ import annotations

import numpy as np

from .ops import Case


def lenet(lib):
    nn, F = lib.nn, lib.nn.functional

    class LeNet(nn.Module):  # examples/train_digits.py's model, on 8x8 digits
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 6, 3, padding=1), nn.Conv2d(6, 16, 3, padding=1)
            self.fc1, self.fc2, self.fc3 = nn.Linear(64, 120), nn.Linear(120, 84), nn.Linear(84, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            return self.fc3(F.relu(self.fc2(F.relu(self.fc1(lib.flatten(x, 1))))))
    return LeNet()


def resnet18_32(lib, classes=10):
    nn, F = lib.nn, lib.nn.functional

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.short = nn.Sequential() if stride == 1 and cin == cout else nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            y = F.relu(self.bn1(self.conv1(x)))
            return F.relu(self.bn2(self.conv2(y)) + self.short(x))

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64),
                                      nn.ReLU())
            layers, cin = [], 64
            for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
                layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
                cin = cout
            self.layers = nn.Sequential(*layers)
            self.fc = nn.Linear(512, classes)

        def forward(self, x):
            x = self.layers(self.stem(x))
            return self.fc(lib.flatten(F.adaptive_avg_pool2d(x, 1), 1))
    return ResNet()


def gpt(lib, vocab=256, d=256, heads=4, layers=4, context=128):
    nn, F = lib.nn, lib.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(d, 2)
            q, k, v = (z.reshape(b, t, heads, d // heads).transpose(1, 2) for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
            return x + self.mlp(self.ln2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(context, d)
            self.blocks = nn.Sequential(*[Block() for _ in range(layers)])
            self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, vocab)

        def forward(self, idx):
            t = idx.shape[1]
            x = self.tok(idx) + self.pos(lib.arange(t, device=idx.device))
            return self.head(self.ln(self.blocks(x)))
    return GPT()


def lstm_lm(lib, vocab=10000, emb=256, hidden=256, layers=2):
    nn = lib.nn

    class LSTMLM(nn.Module):  # PyTorch's word_language_model, LSTM variant
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, emb)
            self.rnn = nn.LSTM(emb, hidden, layers)
            self.out = nn.Linear(hidden, vocab)

        def forward(self, idx):
            y, _ = self.rnn(self.embed(idx))
            return self.out(y)
    return LSTMLM()


def _model_case(name, make, batch, inputs, targets, optimizer, train):
    """``inputs(rng, batch)`` -> host input; ``targets(rng, batch)`` -> host class targets;
    the loss is cross entropy over the output's last dim."""
    def build(t):
        if t.kind not in ("cltorch", "torch"):
            return None
        lib = t.lib
        lib.manual_seed(0)
        model = make(lib).to(t.device)
        rng = np.random.default_rng(0)
        x, y = t.array(inputs(rng, batch)), t.array(targets(rng, batch))
        if not train:
            model.eval()

            def infer():
                with lib.no_grad():
                    return model(x)
            return lib.compile(infer) if t.compiled else infer
        opt = optimizer(lib, model.parameters())

        def step():
            opt.zero_grad()
            out = model(x)
            loss = lib.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]),
                                                   y.reshape(-1))
            loss.backward()
            opt.step()
        return lib.compile(step) if t.compiled else step
    kind = "train step" if train else "inference"
    return Case(f"{name} {kind}", "model", batch, build, compiles=True)


def _sgd(lib, params):
    return lib.optim.SGD(params, lr=0.01, momentum=0.9)


def _adamw(lib, params):
    return lib.optim.AdamW(params, lr=1e-3)


def cases(quick: bool) -> list:
    """Training and inference steps of the four models (``quick``: smaller batches)."""
    image_batch, seq_batch = (2, 1) if quick else (32, 8)
    specs = [
        ("LeNet digits b32", lenet, 32,
         lambda r, b: r.standard_normal((b, 1, 8, 8)).astype(np.float32),
         lambda r, b: r.integers(0, 10, b), _sgd),
        (f"ResNet-18 32px b{image_batch}", resnet18_32, image_batch,
         lambda r, b: r.standard_normal((b, 3, 32, 32)).astype(np.float32),
         lambda r, b: r.integers(0, 10, b), _sgd),
        (f"GPT 4x256 ctx128 b{seq_batch}", gpt, seq_batch,
         lambda r, b: r.integers(0, 256, (b, 128)), lambda r, b: r.integers(0, 256, (b, 128)),
         _adamw),
        (f"LSTM LM 2x256 seq35 b{4 * seq_batch}", lstm_lm, 4 * seq_batch,
         lambda r, b: r.integers(0, 10000, (35, b)), lambda r, b: r.integers(0, 10000, (35, b)),
         _adamw),
    ]
    out = []
    for name, make, batch, inputs, targets, optimizer in specs:
        for train in (True, False):
            out.append(_model_case(name, make, batch, inputs, targets, optimizer, train))
    return out
