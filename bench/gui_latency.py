"""Editor latency: from a centre-move request to the new image being available from the worker.

    python bench/gui_latency.py [--moves 60] [--device cpu] [--checkpoint checkpoints/pets64.safetensors]

Uses the editor's own controller and worker on the bundled default model (spatialgan.paths.default_checkpoint) or
the given checkpoint, or the preset 64 px sel_indoor network when neither is there. Each move is submitted the way the GUI does it and the time until `poll()`
returns its image is measured, p50/p95. A second run replays a fast drag (a move every 8 ms, faster than the
worker renders) and reports how many renders the stale-request dropping saved. Writes
bench/results/gui_latency_<model>_<device>.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.controller import Controller  # noqa: E402
from app.messages import RenderResult  # noqa: E402
from app.worker import Worker  # noqa: E402
from spatialgan.metrics.report import machine
from spatialgan import load_checkpoint, load_generator, pick_device  # noqa: E402
from spatialgan.paths import checkpoint_dir, default_checkpoint  # noqa: E402


def wait_for(worker: Worker, generation: int, timeout: float = 30.0) -> RenderResult:
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        for r in worker.poll():
            if isinstance(r, RenderResult) and r.generation == generation:
                if r.error:
                    raise RuntimeError(r.error)
                return r
        time.sleep(0.0005)
    raise TimeoutError(f"no result for generation {generation}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--moves", type=int, default=60)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--checkpoint", type=Path, default=None, help="a model other than the editor's default")
    args = ap.parse_args(argv)
    device = pick_device(args.device)
    path = args.checkpoint or default_checkpoint()
    if path is not None and path.exists():
        G = load_checkpoint(path, device).generator.eval()
        model = f"{'bundled ' if path.resolve().parent == checkpoint_dir().resolve() else ''}{path.name} ({G.config.resolution} px {G.config.encoding})"
    else:
        G, _ = load_generator(None, "64:sel_indoor", device)
        model = "preset 64 px sel_indoor (untrained weights; the cost is the same)"
    worker = Worker(G, device, model)
    c = Controller.for_worker(worker, 3, 0.7)
    c.autosave_path = None  # type: ignore[assignment]
    x0, y0 = c.state.edit.spec.absolute(0, 0)
    try:
        worker.submit(c.render_request())  # first render also maps the latent (cached afterwards)
        wait_for(worker, c.state.generation)
        lat, render_ms, plain_lat = [], [], []
        g = c.new_gesture()
        for k in range(args.moves + 5):
            c.move_centre(0, 0, x0 + 0.2 * np.sin(k / 5), y0, gesture=g)
            # Each move twice, as the editor renders it (objects carried) and plainly, so the carry's cost is a
            # comparison within one run.
            for carry in (True, False):
                t0 = time.perf_counter()
                worker.submit(c.render_request() if carry else replace(c.render_request(), homes=None))
                r = wait_for(worker, c.state.generation)
                if k >= 5:  # warm-up
                    (lat if carry else plain_lat).append((time.perf_counter() - t0) * 1000)
                    if carry:
                        render_ms.append(r.ms)
        # fast drag: moves every 8 ms; only the newest pending one is rendered
        before = worker.renders
        n_fast = 120
        t_start = time.perf_counter()
        for k in range(n_fast):
            c.move_centre(0, 0, x0 + 0.2 * np.cos(k / 10), y0, gesture=g)
            worker.submit(c.render_request())
            time.sleep(0.008)
        t_last = time.perf_counter()
        wait_for(worker, c.state.generation)
        tail = (time.perf_counter() - t_last) * 1000
        fast_renders = worker.renders - before
        drag_s = t_last - t_start
    finally:
        worker.close()
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    p50, p95 = np.percentile(lat, [50, 95])
    r50, r95 = np.percentile(render_ms, [50, 95])
    q50, q95 = np.percentile(plain_lat, [50, 95])
    cpu = f"{machine()['cpu_model']}, {os.cpu_count()} cores"
    text = f"""# Editor latency: centre move -> new image from the worker ({device.type})

`python bench/gui_latency.py --device {device.type}{f' --checkpoint {path}' if args.checkpoint else ''}`, {date.today().isoformat()}, torch {torch.__version__},
{torch.get_num_threads()} torch threads, {cpu}. Model: {model}. Latency is measured from `Worker.submit` of the move's render request to `Worker.poll` returning
its image (heatmap rendering, synthesis, conversion to uint8 and the heatmap panel), {args.moves} moves after
5 warm-up moves. It excludes the GUI's texture upload and the next display frame (~16 ms at 60 Hz).

| measure | p50 | p95 |
|---|---|---|
| move request -> image available | {p50:.1f} ms | {p95:.1f} ms |
| worker render time alone | {r50:.1f} ms | {r95:.1f} ms |
| move request -> image, rendered plainly (objects redrawn, not carried) | {q50:.1f} ms | {q95:.1f} ms |

The editor carries moved objects' look by default (`spatialgan/carry.py`): the blocks up to 16 px run twice, in one
batch. Each move was rendered both ways in turn; the plain render costs {q50 / p50:.2f}x the carried one (p50).

Load average at the end: {load} (other processes shared the 2 cores: on an idle machine expect
roughly bench/results/generator_latency_cpu.md's synthesis time plus a few ms).

Fast drag: {n_fast} move requests over {drag_s:.2f} s (one every 8 ms) made {fast_renders} renders; the rest
were dropped as stale. The last move's image arrived {tail:.1f} ms after its request.
"""
    name = f"gui_latency_{path.stem if path is not None else 'preset64'}_{device.type}.md"
    out = args.out or Path(__file__).resolve().parent / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
