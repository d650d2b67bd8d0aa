"""Paper Table II on our single-object model: random drags of 30 and 60 px (scaled from 256 px to the model's
resolution) in modes draggan / joint / hybrid (and hybrid-prior: hybrid without finding the handle again after the
coarse move, as before); steps, wall time, time per step, final distance relative to the
image size and the fraction of edits that arrived (every handle within the stop distance).

    python bench/drag_table2.py run --checkpoint checkpoints/pets128.safetensors --distances 30 --log /tmp/t2.jsonl
    python bench/drag_table2.py report --checkpoint checkpoints/pets128.safetensors --log /tmp/t2.jsonl
`run` appends one JSON line per (edit, mode) to --log and skips those already there, so a long run can be split
into chunks, stopped at --deadline-min, or spread over processes (one per distance). Edit i is run in every mode
before edit i + 1, so a stopped run still compares the modes on the same edits. `report` writes
bench/results/drag_table2_<model>_<device>.{json,md} from the edits finished in all modes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from pathlib import Path

import torch
from tqdm import tqdm

from draggan import MODES, DragConfig, DragSession
from spatialgan import HeatmapSpec, load_checkpoint, pick_device
from spatialgan.device import describe
from spatialgan.fused import fuse


# The library's modes plus the hybrid mode as it was before `DragConfig.relocate` and the joint and hybrid modes
# without the carry (`spatialgan.carry`, the paper's plain render), to compare them on the same edits.
BENCH_MODES: dict[str, dict] = {**{m: {"mode": m} for m in MODES},
                                "hybrid-prior": {"mode": "hybrid", "relocate": False},
                                "joint-plain": {"mode": "joint", "carry_resolution": None},
                                "hybrid-plain": {"mode": "hybrid", "carry_resolution": None}}


def random_edit(spec: HeatmapSpec, res: int, dist_px: float, gen: torch.Generator) -> tuple[tuple, tuple] | None:
    """Handle on the object (the root centre, jittered by res/32), target `dist_px` away in a random direction,
    both inside the image; None if 50 directions all leave the image."""
    x, y = spec.absolute(0, 0)
    for _ in range(50):
        hx = min(max(x * res + float(torch.randn((), generator=gen)) * res / 32, 0), res - 1)
        hy = min(max(y * res + float(torch.randn((), generator=gen)) * res / 32, 0), res - 1)
        a = float(torch.rand((), generator=gen)) * 2 * math.pi
        tx, ty = hx + dist_px * math.cos(a), hy + dist_px * math.sin(a)
        if 0 <= tx <= res - 1 and 0 <= ty <= res - 1:
            return (hx, hy), (tx, ty)
    return None


def read_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    G = fuse(load_checkpoint(args.checkpoint, device).generator)
    res = G.config.resolution
    done = {(r["distance_256px"], r["index"], r["mode"]) for r in read_log(args.log)}
    deadline = time.time() + 60 * args.deadline_min if args.deadline_min else math.inf
    args.log.parent.mkdir(parents=True, exist_ok=True)
    todo = [(d, i) for d in args.distances for i in range(args.first, args.first + args.edits)]
    with args.log.open("a") as log:
        for d256, i in tqdm(todo, desc="edits", unit="edit"):
            if time.time() > deadline:
                print(f"deadline reached before edit {i} at {d256:g} px")
                break
            # Edit i uses image seed i and its own generator, so it is the same edit in every mode and every run.
            spec = HeatmapSpec.from_batch(G.sample_layouts(1, seed=i))
            edit = random_edit(spec, res, d256 * res / 256, torch.Generator().manual_seed(int(d256) * 100_003 + i))
            if edit is None:
                continue
            ws = G.mapping(G.sample_z(1, seed=i, device=device), psi=args.psi).detach()
            for mode in args.modes:
                if (d256, i, mode) in done:
                    continue
                cfg = DragConfig(**BENCH_MODES[mode], max_steps=args.max_steps, lr=args.lr)
                load = os.getloadavg()[0]
                t0 = time.perf_counter()
                session = DragSession(G, ws, spec, [edit[0]], [edit[1]], config=cfg)
                r = session.run()
                seconds = time.perf_counter() - t0
                found = session.find_handles()[0]  # untimed: the independent check, not part of the edit
                rec = {"distance_256px": d256, "distance_px": d256 * res / 256, "index": i, "mode": mode,
                       "handle": edit[0], "target": edit[1], "steps": r.step, "seconds": seconds,
                       "final_px": r.distances[0], "final_rel": r.distances[0] / res,
                       "arrived": r.distances[0] <= session.stop, "found": found,
                       "found_rel": math.dist(found, edit[1]) / res, "start_rel": math.dist(*edit) / res, "error": r.error, "load1": load,
                       "threads": args.threads, "max_steps": args.max_steps, "lr": args.lr}
                log.write(json.dumps(rec) + "\n")
                log.flush()
    return 0


def _spread(xs: list[float]) -> dict:
    return {"mean": statistics.mean(xs), "std": statistics.pstdev(xs), "median": statistics.median(xs),
            "min": min(xs), "max": max(xs)}


def report(args: argparse.Namespace) -> int:
    recs = read_log(args.log)
    if not recs:
        raise SystemExit(f"error: no records in {args.log}")
    res = load_checkpoint(args.checkpoint, "cpu").info.generator.resolution
    rows, paired = [], []
    for d256 in sorted({r["distance_256px"] for r in recs}):
        at = [r for r in recs if r["distance_256px"] == d256]
        modes = [m for m in BENCH_MODES if any(r["mode"] == m for r in at)]
        # Only edits finished in every mode, so the modes are compared on the same edits.
        complete = sorted(set.intersection(*({r["index"] for r in at if r["mode"] == m} for m in modes)))
        for mode in modes:
            sel = [r for r in at if r["mode"] == mode and r["index"] in complete]
            paired += sel
            steps, secs = [r["steps"] for r in sel], [r["seconds"] for r in sel]
            rows.append({"distance_256px": d256, "distance_px": d256 * res / 256, "mode": mode, "edits": len(sel),
                         "steps": _spread(steps), "seconds": _spread(secs),
                         "ms_per_step": 1000 * sum(secs) / max(sum(steps), 1),
                         "final_rel": _spread([r["final_rel"] for r in sel]),
                         "arrived": sum(r["arrived"] for r in sel) / len(sel),
                         "found_rel": _spread([r["found_rel"] for r in sel]),
                         "start_rel": statistics.mean(r["start_rel"] for r in sel),
                         "load1_mean": statistics.mean(r["load1"] for r in sel)})
    device = describe(pick_device(args.device))
    meta = {"checkpoint": str(args.checkpoint), "device": device, "resolution": res,
            "max_steps": sorted({r["max_steps"] for r in recs}), "lr": sorted({r["lr"] for r in recs}),
            "threads": sorted({r["threads"] for r in recs}), "date": time.strftime("%Y-%m-%d"), "note": args.note}
    stem = args.out / f"drag_table2_{args.checkpoint.stem}_{device.split()[0]}"
    args.out.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps({**meta, "rows": rows, "edits": paired}, indent=1) + "\n")
    lines = [f"# Drag edits, Table II analogue ({args.checkpoint.name}, {res} px, {device}, {meta['date']})", "",
             f"Max {', '.join(map(str, meta['max_steps']))} steps, Adam lr on w {', '.join(map(str, meta['lr']))}, "
             f"{', '.join(map(str, meta['threads']))} torch thread(s); an edit arrived when the tracked handle is "
             "within 1 px of its target. 'Found' is the independent check: the global nearest neighbour of the "
             "handle's initial feature in the final image, distance to the target / image size (tracking only "
             "searches near its last point, and hybrid starts it at the coarse move's prior, next to the target). "
             "Steps: mean ± std (median; min-max); distances: mean ± std (median); over the same edits in every mode; time is wall time of the whole "
             "session, measured while the machine had the load average in the last column.", ""]
    if args.note:
        lines += [args.note, ""]
    lines += ["| distance | mode | edits | steps | time per edit | ms/step | tracked distance / size | arrived | "
              "found distance / size | load |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s, t, f, g = r["steps"], r["seconds"], r["final_rel"], r["found_rel"]
        lines.append(f"| {r['distance_256px']:g} px @256 ({r['distance_px']:g} px) | {r['mode']} | {r['edits']} | "
                     f"{s['mean']:.1f} ± {s['std']:.1f} ({s['median']:g}; {s['min']}-{s['max']}) | "
                     f"{t['mean']:.1f} ± {t['std']:.1f} s | {r['ms_per_step']:.0f} | {f['mean']:.3f} ± {f['std']:.3f} | "
                     f"{100 * r['arrived']:.0f}% | {g['mean']:.3f} ± {g['std']:.3f} ({g['median']:.3f}; start {r['start_rel']:.3f}) | "
                     f"{r['load1_mean']:.1f} |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {stem}.md")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("run", "report"):
        p = sub.add_parser(name)
        p.add_argument("--checkpoint", type=Path, required=True)
        p.add_argument("--log", type=Path, required=True, help="JSON lines, one per (edit, mode)")
        p.add_argument("--device", default="cpu")
    r = sub.choices["run"]
    r.add_argument("--edits", type=int, default=50, help="edits per distance")
    r.add_argument("--first", type=int, default=0, help="index of the first edit (to split a run over processes)")
    r.add_argument("--distances", type=float, nargs="+", default=[30, 60], help="pixels at 256 px")
    r.add_argument("--modes", nargs="+", choices=list(BENCH_MODES), default=list(MODES))
    r.add_argument("--max-steps", type=int, default=100)
    r.add_argument("--lr", type=float, default=DragConfig.lr, help="Adam step on w (all modes)")
    r.add_argument("--psi", type=float, default=0.7)
    r.add_argument("--threads", type=int, default=torch.get_num_threads())
    r.add_argument("--deadline-min", type=float, default=0.0, help="start no new edit after this many minutes")
    p = sub.choices["report"]
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    p.add_argument("--note", default="", help="a line for the results file (machine load, how the run was split)")
    args = ap.parse_args()
    return run(args) if args.cmd == "run" else report(args)


if __name__ == "__main__":
    raise SystemExit(main())
