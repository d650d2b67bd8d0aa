"""Time of one DragGAN step on imported StyleGAN2 generators at the sizes people have (256, 512, 1024 px), each
against one full render of the same model in the same run.

    python bench/drag_step_sizes.py
    python bench/drag_step_sizes.py --before bench/results/drag_step_sizes_before.json

The generators are StyleGAN2-ADA's real configurations with random weights (the time does not depend on them):
paper256 (channel base 16384), and StyleGAN2's config-f (channel base 32768) at 512 and 1024 px. One step is what
the editor's refine runs: forward to the feature tap, motion supervision, backward to w, Adam, point tracking (a
drag of 1/8 of the picture, mode draggan, default settings). The draft is the picture the step has already drawn
at the tap's block, which the editor shows during a refine. `--before` adds a column from an earlier run of this
script (for example on the previous commit). Writes bench/results/drag_step_sizes_cpu.{md,json} (or --out).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from import_latency import sg2, timed  # noqa: E402 - the bench's shared model builder and timer

from draggan import DragConfig, DragSession  # noqa: E402
from spatialgan.metrics.report import header, machine, write  # noqa: E402
from spatialgan.render import render  # noqa: E402

SIZES = {"paper256": (256, 16384), "config-f 512": (512, 32768), "config-f 1024": (1024, 32768)}


def measure(name: str, res: int, base: int, runs: int) -> dict:
    G = sg2(res, base).eval()
    ws = G.seed_ws(0).detach()
    handle = (0.4 * (res - 1), 0.5 * (res - 1))
    session = DragSession(G, ws, None, [handle], [(handle[0] + res / 8, handle[1])],
                          config=DragConfig(mode="draggan", max_steps=10 * runs, stop_distance=0.01))
    with torch.inference_mode():  # after the session is set up, as the editor renders once a model is open
        full = timed(lambda: render(G, ws, None), runs)[0]
    step = timed(session.step, runs)[0]
    row = {"model": name, "resolution": res, "tap": session.block, "full_ms": round(full, 1),
           "step_ms": round(step, 1), "step_in_renders": round(step / full, 2),
           "draft": session.last is not None and session.last.draft is not None}
    print(row, flush=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="timed steps and renders per model (after one warm-up)")
    ap.add_argument("--before", type=Path, help="an earlier results file of this script, to show beside")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "drag_step_sizes_cpu")
    args = ap.parse_args()
    rows = [measure(name, res, base, args.runs) for name, (res, base) in SIZES.items()]
    before = {r["model"]: r for r in json.loads(args.before.read_text())["rows"]} if args.before else {}
    mach = machine()
    lines = header("DragGAN step at 256, 512 and 1024 px", mach)
    lines += [f"{torch.get_num_threads()} torch threads, float32, medians of {args.runs} timed runs after one "
              f"warm-up. Load average at the end: {mach['load_average']}.", "",
              "| model | feature tap | one full render | step | step / render |"
              + (" before: tap, step, step / render |" if before else ""),
              "|---|---|---|---|---|" + ("---|" if before else "")]
    for r in rows:
        line = (f"| {r['model']} | {r['tap']} px | {r['full_ms']:.0f} ms | {r['step_ms']:.0f} ms | "
                f"{r['step_in_renders']:.2f} |")
        if r["model"] in before:
            b = before[r["model"]]
            line += f" {b['tap']} px, {b['step_ms']:.0f} ms, {b['step_in_renders']:.2f} |"
        elif before:
            line += " - |"
        lines.append(line)
    write(args.out, "\n".join(lines + [""]), {"machine": mach, "rows": rows, "before": list(before.values())})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
