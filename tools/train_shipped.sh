#!/usr/bin/env bash
# Trains the two bundled models (checkpoints/rooms128, checkpoints/pets128) on one GPU, both at once:
#   bash tools/train_shipped.sh start            # launch both runs in the background (they outlive this shell)
#   bash tools/train_shipped.sh status           # last log line of each run
#   bash tools/train_shipped.sh finish OUTDIR    # Ctrl-C both (each snapshots and stops), export float16 EMA generators
# The runs are ordinary `spatialgan-train` runs: `spatialgan-train --resume runs/rooms128` continues one.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
RUNS=(rooms128 pets128)
declare -A ARGS=(
    [rooms128]="--data rooms --encoding sel_indoor"
    [pets128]="--data pets --encoding sel_norm"
)
COMMON="--resolution 128 --batch 32 --kimg 100000 --workers 6 --snapshot-kimg 25 --sample-kimg 25 --no-progress"

case "${1:-}" in
start)
    mkdir -p runs
    for r in "${RUNS[@]}"; do
        # setsid: a run keeps going after the shell that started it returns.
        # shellcheck disable=SC2086
        setsid nohup python3 -m spatialgan.training.cli ${ARGS[$r]} $COMMON --out "runs/$r" >"runs/$r.out" 2>&1 &
        echo $! >"runs/$r.pid"
    done
    ;;
status)
    for r in "${RUNS[@]}"; do
        echo "== $r"; tail -n 3 "runs/$r.out"; tail -n 1 "runs/$r/log.jsonl" 2>/dev/null || true
    done
    ;;
finish)
    out="${2:?finish OUTDIR}"
    mkdir -p "$out"
    for r in "${RUNS[@]}"; do kill -INT "$(cat "runs/$r.pid")" 2>/dev/null || true; done
    for r in "${RUNS[@]}"; do
        while kill -0 "$(cat "runs/$r.pid")" 2>/dev/null; do sleep 1; done
        tail -n 2 "runs/$r.out"
        python3 -m spatialgan.training.cli --resume "runs/$r" --export "$out/$r.safetensors" --half
        cp "runs/$r/log.jsonl" "$out/$r.log.jsonl"
        cp "$(ls runs/$r/samples/*.png | tail -n 1)" "$out/$r.samples.png"
    done
    cat runs/*/command.txt >"$out/commands.txt"
    ;;
*)
    sed -n 2,6p "$0"; exit 2 ;;
esac
