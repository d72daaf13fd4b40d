"""nn.Module semantics (attributes, traversal, modes, moves, state dicts, hooks, printing) and
the containers, against PyTorch's behaviour."""
import collections

import numpy as np
import pytest

import cltorch
import cltorch.nn as nn
import cltorch.nn.functional as F


class Net(nn.Module):
    """The model of PyTorch's "Neural Networks" tutorial."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = cltorch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


TUTORIAL_REPR = """Net(
  (conv1): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))
  (conv2): Conv2d(6, 16, kernel_size=(5, 5), stride=(1, 1))
  (fc1): Linear(in_features=400, out_features=120, bias=True)
  (fc2): Linear(in_features=120, out_features=84, bias=True)
  (fc3): Linear(in_features=84, out_features=10, bias=True)
)"""


def test_tutorial_model(device):
    net = Net().to(device)
    assert repr(net) == TUTORIAL_REPR
    params = list(net.parameters())
    assert len(params) == 10 and params[0].shape == (6, 1, 5, 5)
    out = net(cltorch.randn(1, 1, 32, 32, device=device))
    assert out.shape == (1, 10)
    net.zero_grad()
    out.backward(cltorch.randn(1, 10, device=device))
    assert all(p.grad is not None and p.grad.shape == p.shape for p in net.parameters())
    assert net.conv1.bias.grad.device == cltorch.device(device)


def test_attribute_rules():
    m = nn.Module()
    m.w = nn.Parameter(cltorch.ones(2))
    m.child = nn.Linear(2, 3)
    m.register_buffer("running", cltorch.zeros(2))
    m.register_buffer("scratch", cltorch.zeros(1), persistent=False)
    m.plain = 5
    assert set(m._parameters) == {"w"} and set(m._modules) == {"child"}
    assert set(m._buffers) == {"running", "scratch"} and m.__dict__["plain"] == 5
    assert list(m.state_dict()) == ["w", "running", "child.weight", "child.bias"]
    with pytest.raises(TypeError, match="cannot assign 'int' as parameter 'w'"):
        m.w = 3
    m.w = None
    assert m.w is None and "w" in m._parameters
    with pytest.raises(TypeError, match="cannot assign 'Tensor' object to parameter"):
        m.register_parameter("v", cltorch.ones(1))
    with pytest.raises(KeyError, match="attribute 'plain' already exists"):
        m.register_buffer("plain", cltorch.ones(1))
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'missing'"):
        m.missing
    del m.child
    assert "child" not in m._modules
    with pytest.raises(AttributeError, match="cannot assign parameters before Module"):
        class Bad(nn.Module):
            def __init__(self):
                self.p = nn.Parameter(cltorch.ones(1))
        Bad()


def test_traversal_and_sharing():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), nn.Sequential(shared, nn.Linear(2, 1)))
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.1.weight", "2.1.bias"]  # shared ones once
    assert [n for n, _ in model.named_modules()] == ["", "0", "1", "2", "2.1"]
    assert len(list(model.children())) == 3
    assert model.get_submodule("2.1") is model[2][1]
    assert model.get_parameter("2.1.bias") is model[2][1].bias
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    seen = []
    model.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Sequential" and seen.count("Linear") == 3


def test_moves_casts_and_grads(device):
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    weight = model[0].weight
    model.to(device)
    assert model[0].weight is weight and weight.device == cltorch.device(device)
    assert model[1].running_mean.device == cltorch.device(device)
    if cltorch.backend.registry.get(device).supports_fp64:
        model.double()
        assert weight.dtype is cltorch.float64
        assert model[1].num_batches_tracked.dtype is cltorch.int64  # integers are kept
        model.float()
    model(cltorch.randn(4, 3, device=device)).sum().backward()
    assert weight.grad is not None
    model.zero_grad(set_to_none=False)
    assert weight.grad.abs().sum().item() == 0
    model.zero_grad()
    assert weight.grad is None
    model.requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())


def test_state_dict_round_trip_and_errors():
    a, b = Net(), Net()
    missing, unexpected = b.load_state_dict(a.state_dict())
    assert missing == [] and unexpected == []
    assert all(np.array_equal(x._host_values(), y._host_values())
               for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    state = a.state_dict()
    state.pop("fc3.bias")
    state["extra"] = cltorch.ones(1)
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "fc3.bias". '
                                           '\n\tUnexpected key\\(s\\) in state_dict: "extra"'):
        b.load_state_dict(state)
    result = b.load_state_dict(state, strict=False)
    assert result.missing_keys == ["fc3.bias"] and result.unexpected_keys == ["extra"]
    bad = a.state_dict()
    bad["fc1.weight"] = cltorch.ones(3)
    with pytest.raises(RuntimeError, match="size mismatch for fc1.weight"):
        b.load_state_dict(bad)
    assert not a.state_dict()["fc1.weight"].requires_grad
    assert a.state_dict(keep_vars=True)["fc1.weight"] is a.fc1.weight


def test_hooks(device):
    layer = nn.Linear(3, 2).to(device)
    calls = []
    h1 = layer.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
    layer.register_forward_hook(lambda m, args, out: out + 1)
    layer.register_full_backward_hook(
        lambda m, gin, gout: calls.append((gin[0].shape, gout[0].shape)))
    x = cltorch.ones(4, 3, device=device, requires_grad=True)
    out = layer(x)
    want = F.linear(x * 2, layer.weight, layer.bias) + 1
    assert np.allclose(out._host_values(), want._host_values())
    out.sum().backward()
    assert calls == [((4, 3), (4, 2))]
    assert np.allclose(x.grad._host_values(), 2 * layer.weight.sum(0)._host_values())
    h1.remove()
    assert np.allclose(layer(x)._host_values(), (F.linear(x, layer.weight, layer.bias) + 1)
                       ._host_values())
    with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks and full"):
        layer.register_backward_hook(lambda *a: None)


def test_sequential_three_ways_and_containers():
    cltorch.manual_seed(0)
    first = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
    second = nn.Sequential(collections.OrderedDict(
        [("0", nn.Linear(4, 3)), ("1", nn.ReLU()), ("2", nn.Linear(3, 1))]))
    third = nn.Sequential()
    third.add_module("0", nn.Linear(4, 3))
    third.add_module("1", nn.ReLU())
    third.add_module("2", nn.Linear(3, 1))
    second.load_state_dict(first.state_dict())
    third.load_state_dict(first.state_dict())
    x = cltorch.randn(5, 4)
    assert repr(first) == repr(second) == repr(third)
    assert np.array_equal(first(x)._host_values(), second(x)._host_values())
    assert np.array_equal(first(x)._host_values(), third(x)._host_values())
    assert len(first) == 3 and isinstance(first[-1], nn.Linear) and len(first[:2]) == 2
    first.append(nn.Sigmoid())
    assert isinstance(first[3], nn.Sigmoid)
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    layers.append(nn.Tanh())
    assert len(layers) == 4 and len(list(layers.parameters())) == 6
    d = nn.ModuleDict({"a": nn.Linear(1, 1)})
    d["b"] = nn.ReLU()
    assert list(d.keys()) == ["a", "b"] and "a" in d
    plist = nn.ParameterList([nn.Parameter(cltorch.ones(2)), cltorch.zeros(3)])
    assert isinstance(plist[1], nn.Parameter) and len(list(plist.parameters())) == 2
    pdict = nn.ParameterDict({"w": cltorch.ones(2)})
    assert isinstance(pdict["w"], nn.Parameter) and len(list(pdict.parameters())) == 1


def test_parameter():
    p = nn.Parameter(cltorch.ones(2))
    assert p.requires_grad and isinstance(p, cltorch.Tensor)
    assert not nn.Parameter(cltorch.ones(1), requires_grad=False).requires_grad
    assert repr(p) == "Parameter containing:\ntensor([1., 1.], requires_grad=True)"
    y = p * 2
    assert type(y) is cltorch.Tensor and type(p.detach()) is cltorch.Tensor


def test_matches_torch_repr_and_init():
    torch = pytest.importorskip("torch")
    pairs = [(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
              torch.nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)),
             (nn.LeakyReLU(0.2, inplace=True), torch.nn.LeakyReLU(0.2, inplace=True)),
             (nn.GELU(approximate="tanh"), torch.nn.GELU(approximate="tanh")),
             (nn.Softshrink(0.3), torch.nn.Softshrink(0.3)),
             (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)), (nn.ELU(), torch.nn.ELU()),
             (nn.BatchNorm2d(4), torch.nn.BatchNorm2d(4)),
             (nn.MaxPool2d(2), torch.nn.MaxPool2d(2)), (nn.Dropout(0.3), torch.nn.Dropout(0.3)),
             (nn.Embedding(10, 3, padding_idx=0), torch.nn.Embedding(10, 3, padding_idx=0)),
             (nn.LayerNorm(5), torch.nn.LayerNorm(5)), (nn.Flatten(), torch.nn.Flatten()),
             (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()), (nn.ReLU(), torch.nn.ReLU()),
             (nn.Hardtanh(), torch.nn.Hardtanh()), (nn.Softplus(), torch.nn.Softplus())]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
    # initial values follow the same distributions: bounds of kaiming-uniform Linear init
    layer = nn.Linear(400, 50)
    bound = 1 / np.sqrt(400)
    w = layer.weight._host_values()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
