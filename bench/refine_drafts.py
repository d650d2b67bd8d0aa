"""How often the editor's refine shows a new picture on imported StyleGAN2 generators of 256 and 1024 px: the
worker's own `Refine` job, as the editor starts it, timed between the pictures it posts.

    python bench/refine_drafts.py

Each model (StyleGAN2-ADA paper256 and config-f 1024, random weights: the time does not depend on them) refines
one drag of 1/8 of the picture for `--steps` steps in mode draggan, after the worker has drawn the picture once (as
the editor has, before any drag). A step posts the full picture where drawing it is cheap, and the feature tap
block's picture (a draft the step drew anyway) where it is not. Writes
bench/results/refine_drafts_cpu.{md,json} (or --out).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from import_latency import CONFIGS, sg2  # noqa: E402 - the bench's shared model builder

from app.messages import LatentSpec, RenderRequest  # noqa: E402
from app.model_jobs import Refine, RefineInput  # noqa: E402
from app.worker import Worker  # noqa: E402
from draggan import DragConfig  # noqa: E402
from spatialgan.metrics.report import header, machine, write  # noqa: E402


def measure(name: str, steps: int) -> dict:
    G = sg2(*CONFIGS[name])
    res = G.capabilities.resolution
    worker = Worker(G, torch.device("cpu"), name)
    try:
        handle = (0.4 * (res - 1), 0.5 * (res - 1))
        worker.render(RenderRequest(0, LatentSpec(0, 0.7), None))  # the picture the editor shows before the drag
        start = RefineInput(LatentSpec(0, 0.7), None, (handle,), ((handle[0] + res / 8, handle[1]),))
        job = Refine(0, start, replace(DragConfig(mode="draggan"), max_steps=steps, stop_distance=0.01))
        posted: list[tuple[float, int]] = []
        t0 = time.perf_counter()
        job.run(worker, lambda p: posted.append((time.perf_counter(), p.image.shape[0])))
        total = time.perf_counter() - t0
    finally:
        worker.close()
    gaps = [b[0] - a[0] for a, b in zip([(t0, 0), *posted], posted)]
    row = {"model": name, "resolution": res, "steps": len(posted), "seconds": total,
           "gap_median_s": statistics.median(gaps), "gap_max_s": max(gaps),
           "draft_sizes": sorted({size for _, size in posted})}
    print(row, flush=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "refine_drafts_cpu")
    args = ap.parse_args()
    rows = [measure(name, args.steps) for name in CONFIGS]
    mach = machine()
    lines = header("The editor's refine on imported models: time between pictures", mach)
    lines += [f"{torch.get_num_threads()} torch threads, {args.steps} steps per model, the first from the job's start "
              f"(it includes setting up the drag). Load average at the end: {mach['load_average']}.", "",
              "| model | pictures posted | sizes posted | time between pictures: median / longest |",
              "|---|---|---|---|"]
    for r in rows:
        sizes = " and ".join(f"{s} px" for s in r["draft_sizes"])
        lines.append(f"| {r['model']} | {r['steps']} | {sizes} | {r['gap_median_s']:.2f} / {r['gap_max_s']:.2f} s |")
    write(args.out, "\n".join(lines + [""]), {"machine": mach, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
