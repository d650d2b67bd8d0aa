#!/usr/bin/env bash
# The GPU checks a device session runs in one go (the figures go to OUTDIR; copy them to bench/results/):
#   bash bench/gpu_checks.sh OUTDIR            # on a CUDA machine, about 4 minutes
#   DEVICE=cpu QUICK=1 bash bench/gpu_checks.sh /tmp/x   # the same steps, tiny, to check the script here
# 1. the CUDA tests (graph replay equals the eager render);
# 2. generator latency at batch 1, eager and CUDA-graphed, presets and bundled checkpoints;
# 3. one DragGAN step on the bundled pets model;
# 4. mixed precision: a short training run with and without --amp on the 128 px pets recipe, images/s and
#    whether every logged loss is finite.
# Each step is time-boxed and the script goes on after a failure, so one broken step costs no other figures.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
out="${1:?usage: bench/gpu_checks.sh OUTDIR}"
device="${DEVICE:-cuda}"
mkdir -p "$out"
if [[ -n "${QUICK:-}" ]]; then res=(64); runs=5; kimg=0.064; res_train=32; else res=(64 128 256); runs=50; kimg=6.4; res_train=128; fi

step() {  # step NAME SECONDS CMD...: run, log to OUTDIR/NAME.log, report the exit status
    local name=$1 limit=$2; shift 2
    echo "== $name"
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    echo "   exit $? ($name)"; tail -n 12 "$out/$name.log"
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"

step pytest_cuda 150 python3 -m pytest -q -p no:cacheprovider -rs tests/test_graphed.py
step latency 150 python3 bench/generator_latency.py --device "$device" --resolutions "${res[@]}" --runs "$runs" \
    --checkpoints checkpoints/{rooms64,pets64,rooms128,pets128}.safetensors \
    --out "$out"
step drag_step 60 python3 bench/drag_step_latency.py --device "$device" --threads 4 --steps 10 --out "$out"

for mode in fp32 amp; do
    flag=(); [[ $mode == amp ]] && flag=(--amp)
    rm -rf "runs/gpu_check_$mode"
    step "train_$mode" 120 python3 -m spatialgan.training.cli --data pets --encoding sel_norm --resolution "$res_train" \
        --batch 32 --kimg "$kimg" --workers 6 --snapshot-kimg 1000 --sample-kimg 1000 --no-progress \
        --device "$device" --out "runs/gpu_check_$mode" "${flag[@]}"
    cp "runs/gpu_check_$mode/log.jsonl" "$out/train_$mode.jsonl" 2>/dev/null || true
done
python3 - "$out" <<'EOF'
import json, math, sys
from pathlib import Path
out = Path(sys.argv[1])
summary = {}
for mode in ("fp32", "amp"):
    path = out / f"train_{mode}.jsonl"
    rows = [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []
    rows = [r for r in rows if "step" in r]
    if not rows:
        summary[mode] = "no log"
        continue
    losses = [v for r in rows for k, v in r.items() if k.startswith("loss") and v is not None]
    late = rows[len(rows) // 2:]  # the first steps include start-up and cuDNN's algorithm search
    summary[mode] = {"steps": rows[-1]["step"], "kimg": rows[-1]["kimg"], "all_losses_finite": all(map(math.isfinite, losses)),
                     "img_per_s_second_half": round(sum(r["img_per_s"] for r in late) / len(late), 1),
                     "last": {k: rows[-1][k] for k in ("loss_g", "loss_align", "loss_d")}}
if all(isinstance(summary.get(m), dict) for m in ("fp32", "amp")):
    summary["amp_speedup"] = round(summary["amp"]["img_per_s_second_half"] / summary["fp32"]["img_per_s_second_half"], 2)
(out / "amp_check.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps(summary, indent=2))
EOF
