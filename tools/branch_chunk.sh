#!/usr/bin/env bash
# One device command's worth of recipe branches of one trained run, side by side on one GPU: each branch starts
# from PARENT's snapshot (`spatialgan-train --branch`) with its own loss settings, trains for SECONDS, and is
# exported in float16 (to measure and ship) and float32 (the card's half-precision check):
#   bash tools/branch_chunk.sh SECONDS OUTDIR PARENT 'NAME [SETTINGS...]' ...
#   bash tools/branch_chunk.sh 420 "$OUT" runs/rooms64 'ctrl_s1 --seed 1' 'w4_s0 --align-weight 4'
# Carry PARENT/{snapshot.safetensors,train_config.json,log.jsonl,command.txt}. Branches are written beside
# PARENT as PARENT_NAME. Exports, logs and configs come back as one tar in 15 MB parts (cat OUTDIR/part* | tar x);
# the snapshot of the branch named in KEEP comes back too (18 MB at 64 px: one fits the 64 MB a call returns).
set -uo pipefail
cd "$(dirname "$0")/.."
source tools/chunk_lib.sh
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
secs="${1:?usage: tools/branch_chunk.sh SECONDS OUTDIR PARENT 'NAME [SETTINGS...]' ...}"
out="${2:?usage: tools/branch_chunk.sh SECONDS OUTDIR PARENT 'NAME [SETTINGS...]' ...}"
parent="${3:?usage: tools/branch_chunk.sh SECONDS OUTDIR PARENT 'NAME [SETTINGS...]' ...}"
shift 3
device="${DEVICE:-cuda}"
mkdir -p "$out"
declare -A PID
names=()
for spec in "$@"; do
    read -r name settings <<<"$spec"
    run="${parent}_$name"
    # shellcheck disable=SC2086
    python3 -m spatialgan.training.cli --branch "$parent" --out "$run" $settings --workers 2 \
        --snapshot-kimg 50 --sample-kimg 50 --no-progress --device "$device" >"$run.out" 2>&1 &
    PID[$name]=$!
    names+=("$name")
done
sleep "$secs"
stop_runs "${PID[@]}"
files=()
for name in "${names[@]}"; do
    run="${parent}_$name"
    echo "== $run"; tail -n 2 "$run.out"
    python3 -m spatialgan.training.cli --resume "$run" --export "$run/half.safetensors" --half || continue
    files+=("$run/half.safetensors" "$run/model.safetensors" "$run/log.jsonl" "$run/train_config.json"
            "$run/command.txt" "$run.out")
    [[ "$name" == "${KEEP:-}" ]] && files+=("$run/snapshot.safetensors")
done
pack "$out" part "${files[@]}"
