#!/usr/bin/env bash
# One device command's worth of training for a pair of bundled models (rooms<RES>, pets<RES>), both runs at
# once on one GPU, then the float16 export, model cards and figures of each:
#   bash tools/train_chunk.sh SECONDS OUTDIR [RES]      # RES: 64 (default) or 128
#   KINDS=rooms bash tools/train_chunk.sh ...           # only one of the pair (default: KINDS="pets rooms")
#   KINDS="pets-plain rooms-plain" bash tools/train_chunk.sh ...   # the plain StyleGAN2 baselines, pets64-plain ...
# A run whose folder holds a snapshot continues it (carry RUNS/NAME/{snapshot.safetensors,train_config.json,
# log.jsonl,command.txt} to the device, and only in the first call: a carried path replaces what a warm machine
# has. The working tree (about 38 MB) and what is carried must stay under 64 MB, so carry one run's snapshot,
# e.g. rooms64's 18 MB, and name that run alone in KINDS); otherwise a new run starts with the narrow recipe
# (channels up to 64) of the bundled 64 px models, which steer more than the wide 128 px ones (README).
# Everything comes back as one tar in 15 MB parts:
#   cat OUTDIR/chunk.tar.part* | tar x
set -uo pipefail
cd "$(dirname "$0")/.."
source tools/chunk_lib.sh
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
secs="${1:?usage: tools/train_chunk.sh SECONDS OUTDIR [RES]}"
out="${2:?usage: tools/train_chunk.sh SECONDS OUTDIR [RES]}"
res="${3:-64}"
read -r -a kinds <<<"${KINDS:-pets rooms}"
runs="${RUNS:-runs}"
device="${DEVICE:-cuda}"
mkdir -p "$out" "$runs"
# The 64 and 128 px presets' recipe, spelled out so that a run started here keeps it if the presets change.
NARROW="--resolution $res --channel-base 4096 --channel-max 64 --w-dim 256 --mapping-layers 4 --kimg 1000"
declare -A NEW=(
    [pets$res]="--data pets --encoding sel_norm --heatmap-mode hierarchical --batch 16"
    [rooms$res]="--data rooms --encoding sel_indoor --batch 32"
    # the baselines without heatmaps that the object tool is measured on: the same data, batch and architecture
    [pets$res-plain]="--data pets --encoding none --no-align --batch 16"
    [rooms$res-plain]="--data rooms --encoding none --no-align --batch 32"
)
OFTEN="--workers 6 --snapshot-kimg 50 --sample-kimg 50 --no-progress"
declare -A PID
name() { [[ "$1" == *-plain ]] && echo "${1%-plain}$res-plain" || echo "$1$res"; }  # pets-plain -> pets64-plain
for kind in "${kinds[@]}"; do
    r="$(name "$kind")"
    [[ -n "${NEW[$r]:-}" ]] || { echo "unknown kind $kind (pets, rooms, pets-plain or rooms-plain)"; exit 2; }
    if [[ -f "$runs/$r/snapshot.safetensors" ]]; then args="--resume $runs/$r $OFTEN"
    else args="${NEW[$r]} $NARROW $OFTEN --out $runs/$r"; fi
    # shellcheck disable=SC2086
    python3 -m spatialgan.training.cli $args --device "$device" >"$runs/$r.out" 2>&1 &
    PID[$r]=$!
done
sleep "$secs"
stop_runs "${PID[@]}"
machine="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)"
machine="${machine:-$device}$( (( ${#kinds[@]} > 1 )) && echo ", shared by both runs")"
files=()
for kind in "${kinds[@]}"; do
    r="$(name "$kind")"
    echo "== $r"; tail -n 3 "$runs/$r.out"
    python3 -m spatialgan.training.cli --resume "$runs/$r" --export "checkpoints/$r.safetensors" --half || continue
    python3 tools/model_figures.py "checkpoints/$r.safetensors" --run "$runs/$r" \
        --reference "$runs/$r/model.safetensors" --machine "$machine" || continue
    # The snapshot comes back so that the next session can continue the run; the float32 model.safetensors
    # does not (its one use, the card's half-precision check, happened here), which keeps the whole under the
    # 64 MB a device call returns.
    files+=("checkpoints/$r.safetensors" "checkpoints/$r.md" assets/"$r"-*.png "$runs/$r/snapshot.safetensors"
            "$runs/$r/log.jsonl" "$runs/$r/train_config.json" "$runs/$r/command.txt" "$runs/$r.out")
done
pack "$out" chunk.tar.part "${files[@]}"
ls -la "$out"
