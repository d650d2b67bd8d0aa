"""Time of one DragGAN optimisation step (motion supervision + backward + Adam + point tracking) per mode.

The issue's bar is one step <= 150 ms on the 2-core development CPU with the bundled single-object model. Each
mode runs one session (a 15 px drag of the root centre's pixel) and times `step()` after two warm-up steps,
for each thread count; the step's image is not drawn (the editor draws it, the headless path does not).

    python bench/drag_step_latency.py                      # pets128 on CPU, 1 and 2 threads
writes bench/results/drag_step_latency_<device>.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from draggan import DragConfig, DragSession
from draggan.config import MODES
from spatialgan import HeatmapSpec, load_checkpoint, pick_device
from spatialgan.device import describe
from spatialgan.fused import fuse


def time_steps(G, mode: str, steps: int, seed: int) -> list[float]:
    spec = HeatmapSpec.from_batch(G.sample_layouts(1, seed=seed))
    ws = G.mapping(G.sample_z(1, seed=seed), psi=0.7).detach()
    res = G.config.resolution
    x, y = spec.absolute(0, 0)
    handle = (x * (res - 1), y * (res - 1))
    target = (handle[0] + 15 if handle[0] < res / 2 else handle[0] - 15, handle[1])
    # stop_distance tiny so the session never ends early; max_steps large enough for warm-up + timed steps.
    session = DragSession(G, ws, spec, [handle], [target],
                          config=DragConfig(mode=mode, max_steps=steps + 10, stop_distance=1e-3))
    session.step(), session.step()
    out = []
    for _ in range(steps):
        t0 = time.perf_counter()
        session.step()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", type=Path, default=Path("checkpoints/pets128.safetensors"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    device = pick_device(args.device)
    G = fuse(load_checkpoint(args.checkpoint, device).generator)
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for mode in MODES:
            ms = sorted(time_steps(G, mode, args.steps, seed=3))
            rows.append((threads, mode, statistics.median(ms), ms[int(0.95 * (len(ms) - 1))]))
            print(f"{threads} thread(s) {mode:8s} p50 {rows[-1][2]:6.1f} ms  p95 {rows[-1][3]:6.1f} ms", flush=True)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    lines = [f"# DragGAN step time ({args.checkpoint.name}, {describe(device)})", "",
             f"`python bench/drag_step_latency.py`, {time.strftime('%Y-%m-%d')}, torch {torch.__version__}, "
             f"{platform.machine()}, {os.cpu_count()} cores. One step = feature tap forward, motion loss, backward to "
             f"w (and centres), Adam, point tracking; {args.steps} timed steps after 2 warm-up steps, one 15 px drag. "
             f"Load average at the end: {load}.", "",
             "| threads | mode | p50 | p95 |", "|---|---|---|---|"]
    lines += [f"| {t} | {m} | {p50:.1f} ms | {p95:.1f} ms |" for t, m, p50, p95 in rows]
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"drag_step_latency_{device.type}.md"
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
