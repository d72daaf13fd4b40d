"""Saving and loading a model's state dict (PyTorch's recipe), in a temporary directory."""
import os
import tempfile

import cltorch as torch
import cltorch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


model = Net()
optimizer = torch.optim.Adam(model.parameters())
model(torch.randn(2, 4)).sum().backward()
optimizer.step()
print("state dict keys:", list(model.state_dict()))

with tempfile.TemporaryDirectory() as directory:
    path = os.path.join(directory, "model.pt")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, path)
    checkpoint = torch.load(path)

restored = Net()
restored.load_state_dict(checkpoint["model"])
restored.eval()
x = torch.randn(3, 4)
assert torch.equal(restored(x), model(x))
print("restored model gives identical outputs; optimizer state for",
      len(checkpoint["optimizer"]["state"]), "parameters")
