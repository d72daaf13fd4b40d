"""No kernel reads or writes outside its buffers, races or uses an uninitialised value, for any
shape, stride, offset or dtype the ops accept: ``bounds_fuzz.py`` runs every kernel family on
Oclgrind (a simulated OpenCL device that logs each out-of-bounds access, data race and
uninitialised value, and reports OpenCL API misuse) with one exactly-sized buffer per tensor,
and compares every result with the cpu backend. Oclgrind comes from Debian's
``oclgrind`` package (``apt install oclgrind``); without it these tests skip."""
import os
import re
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

# (kernel style, Oclgrind device limits and cltorch settings): the GPU kernels on a roomy and on
# a small device (work-groups of 64, 16 KiB of local memory, 8 compute units so that reductions
# and scans split, no fp64, kernels built as OpenCL C 1.2: what an old or small GPU offers), and
# the CPU kernels that PoCL runs.
PROFILES = {
    "gpu": ("gpu", {}),
    "gpu, small device": ("gpu", {"OCLGRIND_MAX_WGSIZE": "64", "OCLGRIND_LOCAL_MEM_SIZE": "16384",
                                  "OCLGRIND_COMPUTE_UNITS": "8", "CLTORCH_NO_FP64": "1",
                                  "CLTORCH_BUILD_OPTIONS": "-cl-std=CL1.2"}),
    "cpu": ("cpu", {}),
}
# per profile: with every check on, a round took Oclgrind 7-14 s on 2 cores, and 15-40 s on a
# slower machine of the same kind (2026-12-01)
ROUNDS = 5


def _run_on_oclgrind(tmp_path, args, style="gpu", limits=None):
    """Run ``python args`` with Oclgrind as opencl:0 and all its checks on: (completed process,
    Oclgrind's log of kernel errors). Its uninitialised-value check needs unoptimised builds
    (Debian's Oclgrind stops on LLVM's freeze instruction) and no reused buffer address (it
    keeps a freed buffer's size for the address: CLTORCH_EXACT_BUFFERS=keep)."""
    vendors = tmp_path / "vendors"
    vendors.mkdir(exist_ok=True)
    (vendors / "oclgrind.icd").write_text(ICD + "\n")
    log = tmp_path / "oclgrind.log"
    limits = dict(limits or {})
    options = " ".join(["-cl-opt-disable", limits.pop("CLTORCH_BUILD_OPTIONS", "")]).strip()
    env = dict(os.environ, OCL_ICD_VENDORS=str(vendors), OCLGRIND_LOG=str(log),
               OCLGRIND_DATA_RACES="1", OCLGRIND_UNINITIALIZED="1", OCLGRIND_CHECK_API="1",
               CLTORCH_BUILD_OPTIONS=options, CLTORCH_EXACT_BUFFERS="keep",
               CLTORCH_KERNEL_STYLE=style, CLTORCH_CACHE_DIR=str(tmp_path / "cache"), **limits)
    child = subprocess.run([sys.executable] + args, capture_output=True, text=True, env=env,
                           cwd=HERE, timeout=600)
    return child, log.read_text() if log.exists() else ""


API_NOTE = re.compile(r"Oclgrind - OpenCL runtime error detected\n((?:\t.*\n)+)")
# pyopencl asks every device for NVIDIA's compute-capability attributes (its way of knowing an
# NVIDIA GPU, on each build and argument-type set); Oclgrind, rightly, answers CL_INVALID_VALUE
PYOPENCL_PROBE = ("\tFunction: clGetDeviceInfo\n\tError:    CL_INVALID_VALUE\n"
                  "\tFor argument 'param_name'\n")


def api_misuse(stderr: str) -> list:
    """The OpenCL API errors Oclgrind reported on stderr, less pyopencl's vendor probes."""
    return [note for note in API_NOTE.findall(stderr) if note != PYOPENCL_PROBE]


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_kernel_family_stays_in_bounds(tmp_path, profile):
    style, limits = PROFILES[profile]
    seed = sorted(PROFILES).index(profile)
    child, log = _run_on_oclgrind(tmp_path,
                                  ["bounds_fuzz.py", "opencl:0", str(seed), str(ROUNDS)],
                                  style, limits)
    assert child.returncode == 0, child.stdout[-2000:] + child.stderr[-4000:]
    assert child.stdout.startswith("device opencl:0: Oclgrind Simulator"), child.stdout[:200]
    if "CLTORCH_BUILD_OPTIONS" in limits:  # the profile took effect
        assert f"{limits['CLTORCH_BUILD_OPTIONS']}; fp64: False" in child.stdout, \
            child.stdout[:300]
    assert f"long_lines round {ROUNDS - 1}: ok" in child.stdout
    assert log == "", f"Oclgrind found errors:\n{log[:6000]}"
    assert api_misuse(child.stdout + child.stderr) == [], api_misuse(child.stdout + child.stderr)
    used = child.stdout.split("templates run: ")[1].split()
    assert set(used) == set(template_names()), set(template_names()) - set(used)


def _run_kernel_script(tmp_path, kernel: str, argtypes: str, launch: str):
    """Build ``kernel`` (named f) on Oclgrind and launch it as ``launch`` says, ``d`` being
    the device and ``k`` the kernel: (completed process, Oclgrind's log)."""
    script = tmp_path / "script.py"
    script.write_text("import numpy as np\n"
                      "from cltorch.backend import registry\n"
                      "d = registry.get('opencl:0')\n"
                      f"k = d.kernel({kernel!r}, 'f', {argtypes})\n"
                      f"{launch}\n"
                      "d.synchronize()\n")
    child, log = _run_on_oclgrind(tmp_path, [str(script)])
    assert child.returncode == 0, child.stderr[-2000:]
    return child, log


def test_the_checker_sees_an_overrun(tmp_path):
    """The harness can fail: a kernel writing one element past its buffer is logged."""
    _, log = _run_kernel_script(
        tmp_path, "__kernel void f(__global float* a, int n) {"
                  " int i = get_global_id(0); if (i <= n) a[i] = 1.0f; }",
        "(None, np.int32)", "d.launch(k, 11, [d.allocate(40), 10])")
    assert "Invalid write of size 4" in log and "Kernel: f" in log, log


def test_the_checker_sees_an_uninitialised_value(tmp_path):
    """An element never written, copied out, is logged (a buffer from the exact allocator is
    uninitialised until a kernel or a copy writes it)."""
    _, log = _run_kernel_script(
        tmp_path, "__kernel void f(__global float* a, __global const float* b, int n) {"
                  " int i = get_global_id(0); if (i < n) a[i] = b[i] + 1.0f; }",
        "(None, None, np.int32)", "d.launch(k, 10, [d.allocate(40), d.allocate(40), 10])")
    assert "Uninitialized value written to global memory" in log and "Kernel: f" in log, log


def test_the_checker_sees_api_misuse(tmp_path):
    """An OpenCL call with a bad argument (a kernel name the program lacks) is reported on
    stderr and is not mistaken for pyopencl's vendor probes."""
    child, _ = _run_kernel_script(
        tmp_path, "__kernel void f(__global float* a) {}", "(None,)",
        "import pyopencl as cl\n"
        "try:\n"
        "    cl.Kernel(cl.Program(d.context, 'kernel void g() {}').build(), 'missing')\n"
        "except cl.Error:\n"
        "    print('refused')")
    assert "refused" in child.stdout, child.stdout[-2000:]
    assert any("CL_INVALID_KERNEL_NAME" in note for note in api_misuse(child.stderr)), \
        child.stderr[-2000:]
