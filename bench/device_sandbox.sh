#!/usr/bin/env bash
# The sandbox on a GPU machine: does CUDA work for a submission that runs as its own user, in its own
# cgroups, behind a private /proc and a read-only filesystem? One short run for the lent GPU machine:
#   wheels for what it lacks (nbclient, ipykernel, ...) travel in .gpu-wheels (pip download ... -d .gpu-wheels)
#   bash bench/device_sandbox.sh        (writes under $OUT, or ./device-out)
set -u
OUT=${OUT:-device-out}
mkdir -p "$OUT"
python -V; echo "uid $(id -u)"; nvidia-smi -L 2>&1 | head -2
ls -l /dev/nvidia* 2>&1 | head -4
if [ -d .gpu-wheels ]; then
    python -m pip install -q --break-system-packages --no-index --find-links .gpu-wheels nbclient nbformat \
        ipykernel click rich pydantic matplotlib 2>&1 | grep -v "WARNING: Running pip" | tail -3
fi
export PYTHONPATH=$PWD
python -c "from grader.sandbox.launch import probe_isolation; print('isolation', probe_isolation())"
for device in cuda cpu; do
    python -m grader.cli run examples/submissions/alice --device $device --only 1.3,1.4,2.2,3 \
        --out "$OUT/$device" --rerun --quiet --jobs 1 2>&1 | tail -3
    python - "$OUT/$device/results/alice.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(r["device"], r["score"], "/", r["max_score"], r["status"], r["error"], r["flags"])
print("  missing:", r["sandbox"].get("missing"), "| timings:", {k: round(v, 2) for k, v in r["timings"].items()})
for part in r["parts"]:
    for check in part["checks"]:
        if not check["passed"]:
            print("  FAILED", part["id"], check["id"], check["message"][:200])
PY
done
