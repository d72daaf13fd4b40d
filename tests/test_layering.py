"""Imports go one way, downward (DESIGN.md): leaves <- backend | codegen <- ops <- tensor."""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "cltorch"
LEAVES = {"dtypes", "config"}
ALLOWED = {
    "dtypes": set(), "config": set(),
    "backend": LEAVES,
    "codegen": LEAVES,
    "ops": LEAVES | {"backend", "codegen"},
}


def _imported_layers(path: pathlib.Path) -> set:
    """The cltorch sub-packages/modules (layers) that ``path`` imports from, itself excluded."""
    rel = path.relative_to(ROOT).parts
    package = ["cltorch", *rel[:-1]]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package[:len(package) - node.level + 1]
                full = anchor + (node.module.split(".") if node.module else [])
            else:
                full = (node.module or "").split(".")
            if full[0] != "cltorch":
                continue
            found |= {a.name for a in node.names} if len(full) == 1 else {full[1]}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("cltorch.")}
    return found - {rel[0].removesuffix(".py")}


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_below(layer):
    files = [ROOT / f"{layer}.py"] if (ROOT / f"{layer}.py").exists() else \
        sorted((ROOT / layer).glob("*.py"))
    assert files
    for path in files:
        extra = _imported_layers(path) - ALLOWED[layer]
        assert not extra, f"{path.relative_to(ROOT)} imports {extra} from a layer above"


def test_autograd_stays_in_the_tensor_layer():
    """autograd shares the tensor layer (DESIGN.md): it may use the ops and tensor modules,
    never the user-facing packages above them."""
    upper = {"nn", "optim", "utils", "serialization", "cli"}
    for path in sorted((ROOT / "autograd").glob("*.py")):
        assert not _imported_layers(path) & upper, path.name


USER_FACING = {"nn", "optim", "utils", "serialization", "cli", "compiler", "__init__",
               "__main__"}


def test_user_facing_packages_are_above_the_tensor_layer():
    """nn, optim, utils.data, serialization and cli build on the tensor layer; the tensor
    layer, autograd and ops never import them; nn uses none of the others."""
    lower = [p for p in sorted(ROOT.glob("*.py")) if p.stem not in USER_FACING]
    for path in lower + sorted((ROOT / "ops").glob("*.py")) + \
            sorted((ROOT / "autograd").glob("*.py")):
        assert not _imported_layers(path) & USER_FACING, path.name
    for path in sorted((ROOT / "nn").rglob("*.py")):
        assert not _imported_layers(path) & {"cli", "optim", "utils", "serialization"}, \
            path.name


def test_backend_and_codegen_are_siblings():
    for path in sorted((ROOT / "codegen").glob("*.py")):
        assert "backend" not in _imported_layers(path)
    for path in sorted((ROOT / "backend").glob("*.py")):
        assert "codegen" not in _imported_layers(path)


def test_autocast_state_sits_below_the_ops_it_wraps():
    """The tensor-level ops declare their autocast policy, so the autocast state imports only
    the leaves, the backend registry and the ops layer."""
    path = ROOT / "amp" / "autocast_mode.py"
    assert _imported_layers(path) <= LEAVES | {"backend", "ops"}, _imported_layers(path)


def test_torch_alias_imports_nothing_at_module_level():
    """``cltorch.torch_alias`` is imported by serialization; it must not pull layers in."""
    import ast
    tree = ast.parse((ROOT / "torch_alias.py").read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert all(isinstance(n, ast.Import) or n.module == "__future__" for n in top)


def test_ops_tell_arrays_from_numbers_with_one_helper():
    """ops/ asks ``is_array(x)`` (ops/array.py), never for a private attribute."""
    import re
    probe = re.compile(r"hasattr\([^)]*[\"']_\w+[\"']\)")
    for path in sorted((ROOT / "ops").glob("*.py")):
        assert not probe.search(path.read_text()), f"{path.name} probes a private attribute"


API_MAY_USE = LEAVES | {"backend", "ops", "tensor", "autograd", "amp"}


def test_api_sits_above_the_tensor_and_autograd():
    """api/ (one module per op family) builds on ops, the Tensor class, autograd and the
    autocast policy. tensor.py, ops/ and autograd never import it: autograd makes new tensors
    from tensors it holds (``g.new_zeros``); only torch.autograd.functional's jacobian, a user
    tool, stacks its rows with the API's ``stack``."""
    for path in sorted((ROOT / "api").glob("*.py")):
        extra = _imported_layers(path) - API_MAY_USE
        assert not extra, f"api/{path.name} imports {extra}"
    below = [ROOT / "tensor.py"] + sorted((ROOT / "ops").glob("*.py")) + \
        [p for p in sorted((ROOT / "autograd").glob("*.py")) if p.name != "functional.py"]
    for path in below:
        assert "api" not in _imported_layers(path), path.relative_to(ROOT)
    functional = ast.parse((ROOT / "autograd" / "functional.py").read_text())
    uses = {(n.module, a.name) for n in ast.walk(functional) if isinstance(n, ast.ImportFrom)
            and n.module and n.module.startswith("api") for a in n.names}
    assert uses == {("api.layout", "stack")}, uses


def test_one_place_attaches_tensor_methods():
    """Only api/__init__.py sets attributes on Tensor (tensor.py defines its own)."""
    import re
    assignment = re.compile(r"setattr\(Tensor\b|^\s*Tensor\.\w+\s*=", re.M)
    for path in sorted(ROOT.rglob("*.py")):
        if path.relative_to(ROOT).as_posix() in ("api/__init__.py", "tensor.py"):
            continue
        assert not assignment.search(path.read_text()), path.relative_to(ROOT)
