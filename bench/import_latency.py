"""Latency of imported StyleGAN2-ADA models on the CPU, in the real configurations (random weights: latency does
not depend on training), against our own generator of the same size, in one run.

    python bench/import_latency.py               # paper256 (24.8 M parameters) and config-f 1024 px

For each: the full picture and the editor's draft (the RGB of a coarser block, shown while a gesture goes on),
p50 / p95 at batch 1; our generator with the same channels and mapping (no heatmaps, fused, the editor's path);
the memory the 1024 px model takes in a fresh process; and the time of one DragGAN step (w update at the default
feature tap) at 256 px. Writes bench/results/import_latency_cpu.{md,json}.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from draggan import DragConfig, DragSession
from spatialgan import Generator, GeneratorConfig, render
from spatialgan.fused import fuse
from spatialgan.importers.stylegan2_ada import StyleGAN2ADA, StyleGAN2Config
from spatialgan.metrics.report import header, machine, write

CONFIGS = {  # stylegan2-ada-pytorch's train.py: paper256 (fmaps 0.5) and StyleGAN2's config-f (fmaps 1)
    "paper256": (256, 16384),
    "config-f 1024": (1024, 32768),
}


def sg2(res: int, base: int) -> StyleGAN2ADA:
    torch.manual_seed(0)
    cfg = StyleGAN2Config(512, 0, 512, res, 3, {"num_layers": 8},
                          {"channel_base": base, "channel_max": 512, "num_fp16_res": 4, "conv_clamp": 256})
    return StyleGAN2ADA(cfg).eval().requires_grad_(False)


def ours(res: int, base: int) -> Generator:
    torch.manual_seed(0)
    cfg = GeneratorConfig(resolution=res, z_dim=512, w_dim=512, mapping_layers=8, channel_base=base,
                          channel_max=512, encoding="none")
    return fuse(Generator(cfg).eval())


def timed(fn, runs: int) -> tuple[float, float]:
    fn()  # warm-up
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(ts), 1), round(sorted(ts)[max(0, int(len(ts) * 0.95) - 1)], 1)


def memory_mb(res: int, base: int) -> float:
    """Peak resident memory of a fresh process that builds the model and draws one picture."""
    code = (f"import sys, resource, torch; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"import import_latency as b; G = b.sg2({res}, {base}); "
            "import spatialgan; torch.set_grad_enabled(False); spatialgan.render(G, G.seed_ws(0), None); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return round(int(out.stdout.strip().splitlines()[-1]) / 1024, 0)


def drag_step_ms(G: StyleGAN2ADA, runs: int) -> float:
    ws = G.seed_ws(0).detach()
    s = DragSession(G, ws, None, [(100.0, 120.0)], [(140.0, 120.0)],
                    config=DragConfig(mode="draggan", max_steps=runs + 2, stop_distance=0.01))
    s.step()  # warm-up
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        s.step()
        ts.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(ts), 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "import_latency_cpu")
    args = ap.parse_args()
    rows = []
    for name, (res, base) in CONFIGS.items():
        G, own = sg2(res, base), ours(res, base)
        runs = args.runs if res <= 256 else max(3, args.runs // 3)
        draft = G.capabilities.preview_resolution  # the draft the editor shows during a gesture
        with torch.inference_mode():
            ws, ws_own = G.seed_ws(0), own.seed_ws(0)
            row = {"model": name, "resolution": res, "params_M": round(sum(p.numel() for p in G.parameters()) / 1e6, 2),
                   "draft_resolution": draft}
            row["full_p50_ms"], row["full_p95_ms"] = timed(lambda: render(G, ws, None), runs)
            row["draft_p50_ms"], row["draft_p95_ms"] = timed(lambda: render(G, ws, None, draft=draft), runs)
            row["ours_p50_ms"], row["ours_p95_ms"] = timed(lambda: render(own, ws_own, None), runs)
        if res <= 256:
            row["drag_step_ms"] = drag_step_ms(G, max(3, runs // 2))
        else:
            row["memory_mb"] = memory_mb(res, base)
        rows.append(row)
        print(row, flush=True)
    mach = machine()
    lines = header("Imported StyleGAN2-ADA models: latency on the CPU", mach)
    lines += [f"{torch.get_num_threads()} torch threads, float32, batch 1, random weights in the real configurations "
              f"(num_fp16_res 4 and conv clamp 256 as trained; inference runs in float32). Load average at the end: "
              f"{mach['load_average']}.", "",
              "| model | params | full p50 / p95 | draft (block) p50 / p95 | our generator, same size, p50 | "
              "DragGAN step | memory |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['params_M']} M | {r['full_p50_ms']} / {r['full_p95_ms']} ms | "
                     f"{r['draft_p50_ms']} / {r['draft_p95_ms']} ms ({r['draft_resolution']} px) | "
                     f"{r['ours_p50_ms']} ms | {r.get('drag_step_ms', '-')}{' ms' if 'drag_step_ms' in r else ''} | "
                     f"{str(r['memory_mb']) + ' MB' if 'memory_mb' in r else '-'} |")
    lines += ["", "Full and draft go through `spatialgan.render`, as the editor's worker renders. \"Our generator\" is "
              "`Generator` with the same channels, w_dim and mapping depth and no heatmaps, fused "
              "(`spatialgan.fused`). The DragGAN step is one w update (motion supervision and tracking at the default "
              "feature block) of `draggan.DragSession` in mode draggan. Memory is the peak resident size of a fresh "
              "process that builds the 1024 px model and draws one picture.", ""]
    write(args.out, "\n".join(lines), {"machine": mach, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
