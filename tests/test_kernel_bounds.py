"""No kernel reads or writes outside its buffers, for any shape, stride, offset or dtype the
ops accept: ``bounds_fuzz.py`` runs every kernel family on Oclgrind (a simulated OpenCL device
that logs each out-of-bounds access and each data race) with one exactly-sized buffer per
tensor, and compares every result with the cpu backend. Oclgrind comes from Debian's
``oclgrind`` package (``apt install oclgrind``); without it these tests skip."""
import os
import shutil
import subprocess
import sys

import pytest

from cltorch.codegen import template_names

HERE = os.path.dirname(os.path.abspath(__file__))


def _oclgrind_icd():
    binary = shutil.which("oclgrind")
    if binary is None:
        return None
    library = os.path.join(os.path.dirname(os.path.realpath(binary)), os.pardir, "lib",
                           "oclgrind", "liboclgrind-rt-icd.so")
    return os.path.realpath(library) if os.path.exists(library) else None


ICD = _oclgrind_icd()
pytestmark = pytest.mark.skipif(ICD is None, reason="Oclgrind is not installed "
                                                    "(apt install oclgrind)")

# (kernel style, Oclgrind device limits): the GPU kernels on a roomy and on a small device
# (work-groups of 64, 16 KiB of local memory, 8 compute units so that reductions and scans
# split), and the CPU kernels that PoCL runs.
PROFILES = {
    "gpu": ("gpu", {}),
    "gpu, small device": ("gpu", {"OCLGRIND_MAX_WGSIZE": "64", "OCLGRIND_LOCAL_MEM_SIZE": "16384",
                                  "OCLGRIND_COMPUTE_UNITS": "8"}),
    "cpu": ("cpu", {}),
}


def _run_on_oclgrind(tmp_path, args, style="gpu", limits=None):
    """Run ``python args`` with Oclgrind as opencl:0: (completed process, Oclgrind's log)."""
    vendors = tmp_path / "vendors"
    vendors.mkdir(exist_ok=True)
    (vendors / "oclgrind.icd").write_text(ICD + "\n")
    log = tmp_path / "oclgrind.log"
    env = dict(os.environ, OCL_ICD_VENDORS=str(vendors), OCLGRIND_LOG=str(log),
               OCLGRIND_DATA_RACES="1", CLTORCH_EXACT_BUFFERS="1", CLTORCH_KERNEL_STYLE=style,
               CLTORCH_CACHE_DIR=str(tmp_path / "cache"), **(limits or {}))
    child = subprocess.run([sys.executable] + args, capture_output=True, text=True, env=env,
                           cwd=HERE, timeout=600)
    return child, log.read_text() if log.exists() else ""


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_kernel_family_stays_in_bounds(tmp_path, profile):
    style, limits = PROFILES[profile]
    seed = sorted(PROFILES).index(profile)
    child, log = _run_on_oclgrind(tmp_path, ["bounds_fuzz.py", "opencl:0", str(seed), "12"],
                                  style, limits)
    assert child.returncode == 0, child.stdout[-2000:] + child.stderr[-4000:]
    assert child.stdout.startswith("device opencl:0: Oclgrind Simulator"), child.stdout[:200]
    assert "long_lines round 11: ok" in child.stdout
    assert log == "", f"Oclgrind found errors:\n{log[:6000]}"
    used = child.stdout.split("templates run: ")[1].split()
    assert set(used) == set(template_names()), set(template_names()) - set(used)


def test_the_checker_sees_an_overrun(tmp_path):
    """The harness can fail: a kernel writing one element past its buffer is logged."""
    script = tmp_path / "overrun.py"
    script.write_text(
        "import numpy as np\n"
        "from cltorch.backend import registry\n"
        "d = registry.get('opencl:0')\n"
        "k = d.kernel('__kernel void f(__global float* a, int n) {'\n"
        "             ' int i = get_global_id(0); if (i <= n) a[i] = 1.0f; }', 'f',\n"
        "             (None, np.int32))\n"
        "d.launch(k, 11, [d.allocate(40), 10])\n"
        "d.synchronize()\n")
    child, log = _run_on_oclgrind(tmp_path, [str(script)])
    assert child.returncode == 0, child.stderr[-2000:]
    assert "Invalid write of size 4" in log and "Kernel: f" in log, log
