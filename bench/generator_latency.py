"""Generator forward latency at batch 1 for the planned default configs (issue: core model).

Measures what the editor pays for every centre move: render the heatmaps from centres, then synthesise the
image from fixed ws. Reports p50/p95 over repeated runs after a warm-up, on CPU and on CUDA when present, and
writes bench/results/generator_latency_<device>.{json,md}, which docs/measurements.md quotes. On CUDA each row is timed
twice in the same run: eager, and as CUDA graph replays (spatialgan.graphed, what the editor uses there).

    python bench/generator_latency.py                 # CPU, 64/128/256 px
    python bench/generator_latency.py --device cuda   # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from spatialgan import Generator, load_checkpoint, pick_device, preset, sample_heatmaps
from spatialgan.device import describe
from spatialgan.fused import fuse
from spatialgan.graphed import GraphedRenderer

VARIANTS = [("none", "plain StyleGAN2 baseline"), ("sel_norm", "single-object (hierarchical)"),
            ("sel_indoor", "multi-object (rooms)")]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def time_config(resolution: int, encoding: str, device: torch.device, runs: int, warmup: int) -> dict:
    gcfg, _ = preset(resolution, encoding)
    torch.manual_seed(0)
    return time_generator(Generator(gcfg).to(device).eval(), device, runs, warmup)


def _timed(render, device: torch.device, runs: int, warmup: int) -> tuple[float, float]:
    """p50 and p95 in ms of `render()`, synchronised so that GPU work is counted."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = []
    for i in range(warmup + runs):
        sync()
        t0 = time.perf_counter()
        render()
        sync()
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 2), round(statistics.quantiles(times, n=20)[18], 2)


def time_generator(G: Generator, device: torch.device, runs: int, warmup: int) -> dict:
    gcfg = G.config
    with torch.inference_mode():
        ws = G.mapping(G.sample_z(1, seed=0))
    hb = sample_heatmaps(gcfg.heatmap, 1, seed=0).to(device) if gcfg.uses_heatmaps else None
    fused = fuse(G)  # what the editor renders with
    eager, graphed = GraphedRenderer(fused), GraphedRenderer(fused)
    eager.enabled = False  # the same render, run op by op
    row = {"resolution": gcfg.resolution, "encoding": gcfg.encoding,
           "params_M": round(sum(p.numel() for p in G.parameters()) / 1e6, 2)}
    row["p50_ms"], row["p95_ms"] = _timed(lambda: eager(ws, hb), device, runs, warmup)
    if graphed.enabled:
        row["graphed_p50_ms"], row["graphed_p95_ms"] = _timed(lambda: graphed(ws, hb), device, runs, warmup)
    row["runs"] = runs
    return row


def graphed_text(row: dict) -> str:
    if "graphed_p50_ms" not in row:
        return ""
    return f"graphed p50 {row['graphed_p50_ms']:.2f} ms p95 {row['graphed_p95_ms']:.2f} ms  "


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    ap.add_argument("--resolutions", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--checkpoints", type=Path, nargs="*", default=[],
                    help="also time these checkpoints (e.g. checkpoints/*.safetensors)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)
    device = pick_device(args.device)
    machine = {"device": describe(device), "cpu": cpu_name(), "cores": os.cpu_count(),
               "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
               "python": sys.version.split()[0], "date": time.strftime("%Y-%m-%d")}
    rows = []
    for res in args.resolutions:
        for enc, _ in VARIANTS:
            row = time_config(res, enc, device, args.runs, args.warmup)
            rows.append(row)
            print(f"{res:4d} px  {enc:10s}  p50 {row['p50_ms']:8.2f} ms  p95 {row['p95_ms']:8.2f} ms  "
                  f"{graphed_text(row)}({row['params_M']} M params)", flush=True)
    for path in args.checkpoints:
        row = {**time_generator(load_checkpoint(path, device).generator, device, args.runs, args.warmup),
               "model": path.name}
        rows.append(row)
        print(f"{path.name}: p50 {row['p50_ms']:.2f} ms  p95 {row['p95_ms']:.2f} ms  {graphed_text(row)}", flush=True)
    machine["load_avg"] = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"generator_latency_{device.type}"
    stem.with_suffix(".json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
    names = dict(VARIANTS)
    graphed = all("graphed_p50_ms" in r for r in rows)
    lines = [f"# Generator latency, batch 1 ({machine['device']})", "",
             f"Machine: {machine['cpu']}, {machine['cores']} cores, torch {machine['torch']} "
             f"({machine['torch_threads']} threads), measured {machine['date']}. Heatmap rendering + synthesis "
             f"from fixed w, {args.runs} runs after {args.warmup} warm-up, untrained weights of the preset "
             "configs (latency does not depend on training) and the bundled checkpoints. Load average at the end: "
             f"{machine['load_avg']}." + (" Graphed: the same render replayed as one CUDA graph "
                                          "(spatialgan.graphed.GraphedRenderer, what the editor runs on a GPU), "
                                          "timed in the same run." if graphed else ""), "",
             "| resolution | variant | params | p50 | p95 |" + (" graphed p50 | graphed p95 |" if graphed else ""),
             "|---|---|---|---|---|" + ("---|---|" if graphed else "")]
    lines += [f"| {r['resolution']} px | {r.get('model', 'preset')}: {r['encoding']} ({names.get(r['encoding'], r['encoding'])}) | "
              f"{r['params_M']} M | {r['p50_ms']:.1f} ms | {r['p95_ms']:.1f} ms |"
              + (f" {r['graphed_p50_ms']:.2f} ms | {r['graphed_p95_ms']:.2f} ms |" if graphed else "") for r in rows]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {stem}.md and .json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
