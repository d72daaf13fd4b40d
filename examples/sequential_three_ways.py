"""The three ways of building an nn.Sequential (PyTorch's tutorial), giving equal models."""
from collections import OrderedDict

import cltorch as torch
import cltorch.nn as nn

positional = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))

named = nn.Sequential(OrderedDict([
    ("0", nn.Linear(4, 8)),
    ("1", nn.ReLU()),
    ("2", nn.Linear(8, 2)),
]))

built = nn.Sequential()
built.add_module("0", nn.Linear(4, 8))
built.add_module("1", nn.ReLU())
built.add_module("2", nn.Linear(8, 2))

named.load_state_dict(positional.state_dict())
built.load_state_dict(positional.state_dict())
x = torch.randn(3, 4)
print(positional)
for model in (named, built):
    assert torch.equal(model(x), positional(x))
print("all three give the same outputs:", positional(x).shape)
