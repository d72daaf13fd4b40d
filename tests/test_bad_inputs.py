"""Bad inputs raise PyTorch's exception, on every device: the catalogue runs in a child
process per device (a crash or hang fails these tests, not the run), and each case is checked
against PyTorch itself where it is installed and the case needs only one device."""
import json
import os
import re
import subprocess
import sys

import pytest

from bad_inputs_catalogue import CASES

HERE = os.path.dirname(os.path.abspath(__file__))
_results = {}


def _outcomes(device):
    if device not in _results:
        child = subprocess.run([sys.executable, os.path.join(HERE, "bad_inputs_catalogue.py"),
                                device], capture_output=True, text=True, timeout=600)
        lines = [json.loads(line) for line in child.stdout.splitlines() if line.startswith("{")]
        _results[device] = ({o["case"]: o for o in lines}, child.returncode,
                            child.stderr[-3000:])
    return _results[device]


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_raises_like_pytorch(name, device):
    outcomes, returncode, stderr = _outcomes(device)
    assert returncode == 0, f"the catalogue's process died on {device}: {stderr}"
    outcome = outcomes[name]
    fn, error, match = CASES[name]
    assert outcome["raised"] is not None, f"{name}: accepted on {device}"
    assert outcome["is_expected"], f"{name}: {outcome['raised']}: {outcome['message']}"
    assert re.search(match, outcome["message"]), outcome["message"]
    if name.startswith("devices:"):
        return  # PyTorch here has one device: nothing to compare with
    torch = pytest.importorskip("torch")
    with pytest.raises(error) as theirs:
        fn(torch, "cpu", None)
    if error is Exception:  # the case's type is PyTorch's own: cltorch's must be one
        assert type(theirs.value).__name__ in outcome["mro"], \
            f"PyTorch raises {type(theirs.value).__name__}: {theirs.value}; cltorch " \
            f"{outcome['raised']}: {outcome['message']}"
