"""Per-layer learning rates with optimizer parameter groups: a slowly tuned feature extractor
and a fast classifier, then a learning-rate change through param_groups."""
import cltorch as torch
import cltorch.nn as nn

features = nn.Sequential(nn.Linear(10, 16), nn.ReLU())
classifier = nn.Linear(16, 3)
model = nn.Sequential(features, classifier)

optimizer = torch.optim.SGD([
    {"params": features.parameters(), "lr": 1e-5},
    {"params": classifier.parameters()},
], lr=1e-2, momentum=0.9)

x, y = torch.randn(32, 10), torch.randint(0, 3, (32,))
before = [p.detach().clone() for p in model.parameters()]
for _ in range(5):
    optimizer.zero_grad()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
moved = [(p - b).abs().max().item() for p, b in zip(model.parameters(), before)]
print("learning rates:", [group["lr"] for group in optimizer.param_groups])
print(f"largest change, feature extractor: {max(moved[:2]):.2e}, classifier: "
      f"{max(moved[2:]):.2e}")
for group in optimizer.param_groups:  # e.g. a manual decay
    group["lr"] *= 0.1
print("after decay:", [group["lr"] for group in optimizer.param_groups])
