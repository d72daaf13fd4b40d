#!/usr/bin/env bash
# The GPU check, in one go on any GPU machine (about 8 minutes): versions, the device list, the
# doctor, every device test on each GPU device (CUDA backend and OpenCL GPUs, one pytest per
# device, all at once), `cltorch tune` on each, then `cltorch bench` at full sizes with
# PyTorch's CUDA (and CLBlast, where pyclblast is importable) measured in the same run.
# Everything lands in one folder: $OUT, else the first argument, else gpu-check-DATE, and is
# packed into gpu-check.tar.gz there.
# Each step has its own time limit, so that one hang does not eat the rest; the tests do not
# stop at the first failure (a first run on new hardware should show all of them).
# Limits (seconds): GPU_CHECK_TEST_S (240), GPU_CHECK_BENCH_S (200). GPU_CHECK_DEVICES names the
# devices to check (default: every GPU); GPU_CHECK_PACK=1 keeps only the archive, bench.json and
# summary.log in the folder (for machines that return few files).
set -u
out=${OUT:-${1:-gpu-check-$(date +%Y%m%d-%H%M%S)}}
mkdir -p "$out/logs"
exec > >(tee "$out/summary.log") 2>&1
py=${PYTHON:-python3}
test_limit=${GPU_CHECK_TEST_S:-240}
bench_limit=${GPU_CHECK_BENCH_S:-200}

step() {  # step NAME SECONDS COMMAND...: the command's output into $out/logs/NAME.log
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit}s)"
    local start=$SECONDS
    timeout "$limit" "$@" > "$out/logs/$name.log" 2>&1
    echo "rc=$? after $((SECONDS - start))s ($name)"
    tail -4 "$out/logs/$name.log"
}

{
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
    "$py" --version
    "$py" -m pip list 2>/dev/null | grep -i -E "^(numpy|torch|pyopencl|cuda|nvidia-cuda-nvrtc|pyclblast|pytest)"
} > "$out/logs/versions.log" 2>&1
cat "$out/logs/versions.log"
step devices 60 "$py" -m cltorch devices
"$py" -m cltorch devices --json > "$out/logs/devices.json" 2>&1
step doctor 120 "$py" -m cltorch doctor
gpus=${GPU_CHECK_DEVICES:-$("$py" - <<'PY'
from cltorch.backend import registry
names = [f"cuda:{i}" for i in range(registry.device_count("cuda"))]
from cltorch.backend import opencl
names += [f"opencl:{i}" for i in range(opencl.gpu_count())]  # GPUs come first
print(" ".join(names))
PY
)}
echo "GPU devices: ${gpus:-none}"

# pytest-xdist spreads a device's tests over processes (kernel compiles are the slow part on a
# cold cache; the disk cache is shared and written atomically); pytest-timeout stops a hung test
workers=""
"$py" -c "import xdist" 2>/dev/null && workers="-n 6"
timeouts=""
"$py" -c "import pytest_timeout" 2>/dev/null && timeouts="--timeout=120"
pids=""
for dev in $gpus; do
    # every test that runs on a device, on this device only; the oclgrind, example and bench
    # files are left out (CPU-side, and checked by CI)
    timeout -s INT -k 30 "$test_limit" "$py" -m pytest -q -p no:cacheprovider --device "$dev" -k "$dev" \
        $workers $timeouts --maxfail=60 -rfE --tb=short \
        --ignore=tests/test_kernel_bounds.py --ignore=tests/test_pytorch_examples.py \
        --ignore=tests/test_examples.py --ignore=tests/test_bench.py \
        tests > "$out/logs/tests-${dev/:/}.log" 2>&1 &
    pids="$pids $!"
done
start=$SECONDS
for pid in $pids; do wait "$pid"; done
echo "== tests finished after $((SECONDS - start))s"
for dev in $gpus; do
    echo "-- tests on $dev:"
    grep -E "^(FAILED|ERROR)" "$out/logs/tests-${dev/:/}.log" | cut -c1-200 | head -25
    tail -2 "$out/logs/tests-${dev/:/}.log"
done

# the GEMM parameters measured on each GPU (tuning.json): the bench below runs with them, and
# the log shows what each candidate measured
step tune 200 "$py" -m cltorch tune --budget 80 $(for dev in $gpus; do echo --device "$dev"; done)
devices=$(echo "$gpus" | tr ' ' ',')
step bench "$bench_limit" "$py" -m cltorch bench ${devices:+--device "$devices"} \
    --references "torch cuda,clblast,pyopencl" --rounds 5 \
    --json "$out/bench.json" --plots "$out/logs/plots"
tar -czf "$out/gpu-check.tar.gz" -C "$out" logs
[ "${GPU_CHECK_PACK:-0}" = 1 ] && rm -rf "$out/logs"
echo "everything is in $out (logs packed in gpu-check.tar.gz)"
