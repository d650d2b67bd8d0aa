# Shared by the device chunk scripts (tools/train_chunk.sh, tools/branch_chunk.sh); source it.

# Interrupt training processes (each writes its snapshot and stops on SIGINT) and wait up to two minutes for them.
stop_runs() {
    local pid alive
    for pid in "$@"; do kill -INT "$pid" 2>/dev/null; done
    for _ in $(seq 120); do
        alive=0
        for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        (( alive )) || return 0
        sleep 1
    done
}

# Pack files into OUTDIR as one tar in 15 MB parts (a device call returns at most 8 files of 16 MB, 64 MB in all):
#   pack OUTDIR PREFIX FILE...      then: cat OUTDIR/PREFIX* | tar x
pack() {
    local out="$1" prefix="$2"
    shift 2
    tar cf - "$@" | split -b 15M - "$out/$prefix"
    du -ch "$out/$prefix"* | tail -n 1  # must stay under 64 MB
}
