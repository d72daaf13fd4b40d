#!/usr/bin/env bash
# The GPU check, in one go on any GPU machine (under 8 minutes): the device list, the doctor, the
# tests on each GPU device (CUDA backend, OpenCL GPUs) and `cltorch bench --quick` with PyTorch's
# CUDA reference. Everything lands in one folder: $OUT, else the first argument, else
# gpu-check-DATE. Each step has its own time limit, so that one hang does not eat the rest.
set -u
out=${OUT:-${1:-gpu-check-$(date +%Y%m%d-%H%M%S)}}
mkdir -p "$out"
py=${PYTHON:-python3}

step() {  # step NAME SECONDS COMMAND...: the command's output into $out/NAME.log
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit}s)"
    local start=$SECONDS
    timeout "$limit" "$@" > "$out/$name.log" 2>&1
    echo "rc=$? after $((SECONDS - start))s ($name)"
    tail -5 "$out/$name.log"
}

step devices 60 "$py" -m cltorch devices
"$py" -m cltorch devices --json > "$out/devices.json" 2>&1
step doctor 90 "$py" -m cltorch doctor
gpus=$("$py" - <<'PY'
from cltorch.backend import registry
names = [f"cuda:{i}" for i in range(registry.device_count("cuda"))]
from cltorch.backend import opencl
names += [f"opencl:{i}" for i in range(opencl.gpu_count())]  # GPUs come first
print(" ".join(names))
PY
)
echo "GPU devices: ${gpus:-none}"
for dev in $gpus; do
    # the kernel families' tests on this device only (and cpu, the reference); stop at the
    # first failure
    step "tests-${dev/:/}" 110 "$py" -m pytest -x -q -p no:cacheprovider --device "$dev" \
        tests/test_pointwise.py tests/test_reductions.py tests/test_matmul.py \
        tests/test_indexing_ops.py tests/test_index_writes.py tests/test_sorting.py \
        tests/test_random.py tests/test_nn_layers.py tests/test_optim.py \
        tests/test_autograd_ops.py tests/test_device_checks.py tests/test_bad_inputs.py \
        tests/test_thread_faults.py
done
devices=$(echo "$gpus" | tr ' ' ',')
step bench 150 "$py" -m cltorch bench --quick ${devices:+--device "$devices"} \
    --json "$out/bench.json" --plots "$out/plots"
echo "everything is in $out"
