"""Paper Table II on our single-object model: random drags of 30 and 60 px (scaled from 256 px to the model's
resolution) in modes draggan / joint / hybrid; steps, wall time and final distance relative to the image size.

    python bench/drag_table2.py --checkpoint checkpoints/pets128.safetensors --edits 50
writes bench/results/drag_table2_<device>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import torch

from draggan import DragConfig, DragSession
from spatialgan import HeatmapSpec, load_checkpoint, pick_device, sample_heatmaps
from spatialgan.device import describe


def random_edit(spec: HeatmapSpec, res: int, dist_px: float, gen: torch.Generator) -> tuple[tuple, tuple] | None:
    """Handle on the object (the root centre, jittered), target `dist_px` away in a random direction, inside."""
    x, y = spec.absolute(0, 0)
    for _ in range(50):
        hx = min(max(x * res + float(torch.randn((), generator=gen)) * res / 32, 0), res - 1)
        hy = min(max(y * res + float(torch.randn((), generator=gen)) * res / 32, 0), res - 1)
        a = float(torch.rand((), generator=gen)) * 2 * math.pi
        tx, ty = hx + dist_px * math.cos(a), hy + dist_px * math.sin(a)
        if 0 <= tx <= res - 1 and 0 <= ty <= res - 1:
            return (hx, hy), (tx, ty)
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--edits", type=int, default=50)
    ap.add_argument("--distances", type=float, nargs="+", default=[30, 60], help="pixels at 256 px")
    ap.add_argument("--max-steps", type=int, default=200)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    device = pick_device(args.device)
    ck = load_checkpoint(args.checkpoint, device)
    G, res = ck.generator, ck.info.generator.resolution
    rows = []
    for d256 in args.distances:
        d = d256 * res / 256
        for mode in ("draggan", "joint", "hybrid"):
            steps, secs, finals = [], [], []
            gen = torch.Generator().manual_seed(int(d256))  # the same edits for every mode
            for seed in range(args.edits * 2):
                if len(steps) == args.edits:
                    break
                spec = HeatmapSpec.from_batch(sample_heatmaps(G.config.heatmap, 1, seed=seed))
                edit = random_edit(spec, res, d, gen)
                if edit is None:
                    continue
                ws = G.mapping(G.sample_z(1, seed=seed, device=device), psi=0.7).detach()
                t0 = time.perf_counter()
                r = DragSession(G, ws, spec, [edit[0]], [edit[1]], config=DragConfig(mode=mode, max_steps=args.max_steps)).run()
                secs.append(time.perf_counter() - t0)
                steps.append(r.step)
                finals.append(r.distances[0] / res)
            row = {"distance_256px": d256, "distance_px": d, "mode": mode, "edits": len(steps),
                   "steps_mean": statistics.mean(steps), "steps_std": statistics.pstdev(steps),
                   "seconds_mean": statistics.mean(secs), "seconds_std": statistics.pstdev(secs),
                   "ms_per_step": 1000 * sum(secs) / max(sum(steps), 1),
                   "final_rel_mean": statistics.mean(finals), "final_rel_std": statistics.pstdev(finals)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"drag_table2_{device.type}"
    stem.with_suffix(".json").write_text(json.dumps({"checkpoint": str(args.checkpoint), "device": describe(device),
                                                     "rows": rows}, indent=2) + "\n")
    lines = [f"# Drag edits, Table II analogue ({args.checkpoint.name}, {describe(device)}, {time.strftime('%Y-%m-%d')})",
             "", "| distance | mode | edits | steps | time | ms/step | final distance / size |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['distance_256px']:g} px @256 ({r['distance_px']:.1f} px) | {r['mode']} | {r['edits']} | "
              f"{r['steps_mean']:.1f} ± {r['steps_std']:.1f} | {r['seconds_mean']:.2f} ± {r['seconds_std']:.2f} s | "
              f"{r['ms_per_step']:.0f} | {r['final_rel_mean']:.3f} ± {r['final_rel_std']:.3f} |" for r in rows]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {stem}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
