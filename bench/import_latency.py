"""Latency of imported StyleGAN2-ADA models on the CPU, in the real configurations (random weights: latency does
not depend on training), against our own generator of the same size, in one run.

    python bench/import_latency.py               # paper256 (24.8 M parameters) and config-f 1024 px
    python bench/import_latency.py --upstream ~/src/stylegan2-ada-pytorch   # also NVIDIA's code, same weights

For each: the full picture and the editor's draft (the RGB of a coarser block, shown while a gesture goes on),
p50 / p95 at batch 1; the full picture under bfloat16 autocast (speed and largest pixel difference); our generator
with the same channels and mapping (no heatmaps, fused, the editor's path); with --upstream, NVIDIA's
stylegan2-ada-pytorch from a checkout of yours (outside this project, never shipped with it) on the same weights in
the same process; the time of one DragGAN step (w update at the default feature tap) at 256 px; and at 1024 px the
peak memory of a fresh process that builds the model and draws once, and of the editor itself opening it (under
xvfb-run, when installed). Writes bench/results/import_latency_cpu.{md,json}.
"""

from __future__ import annotations

import argparse
import os
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


def upstream_ms(G: StyleGAN2ADA, path: Path, runs: int) -> float:
    """NVIDIA's generator on G's weights (their parameter names are ours), float32, constant noise."""
    import types
    for name in ("requests",):  # imported by their dnnlib for downloads, which this never does
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.path.insert(0, str(path))
    from training.networks import Generator as Upstream  # noqa: E402 - from the user's checkout

    cfg = G.config
    up = Upstream(z_dim=cfg.z_dim, c_dim=cfg.c_dim, w_dim=cfg.w_dim, img_resolution=cfg.img_resolution,
                  img_channels=cfg.img_channels, mapping_kwargs=cfg.mapping_kwargs,
                  synthesis_kwargs=cfg.synthesis_kwargs).eval()
    up.load_state_dict(G.state_dict())
    with torch.inference_mode():
        ws = G.seed_ws(0)[:, 0]
        diff = float((up.synthesis(ws, noise_mode="const", force_fp32=True) - G.synthesis(ws)).abs().max())
        assert diff < 1e-3, f"upstream and ours disagree by {diff}"
        return timed(lambda: up.synthesis(ws, noise_mode="const", force_fp32=True), runs)[0]


def editor_memory_mb(res: int, base: int, folder: Path) -> float | None:
    """Peak resident memory of the editor (`run_gui.py --screenshot`) opening the model, or None without Xvfb."""
    import shutil
    if shutil.which("xvfb-run") is None:
        return None
    from spatialgan.importers import save_imported

    path = save_imported(folder / f"sg2_{res}.safetensors", sg2(res, base))
    root = Path(__file__).resolve().parents[1]
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1400x900x24", sys.executable, str(root / "run_gui.py"), "-c", str(path),
           "--screenshot", str(folder / "shot.png")]
    # a fresh wrapper process, so that the peak it reports is the editor's, not that of an earlier child of ours
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True, "
            "timeout=900); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True, check=True,
                         env={**os.environ, "XDG_CACHE_HOME": str(folder)})
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
    ap.add_argument("--upstream", type=Path, help="a checkout of NVIDIA's stylegan2-ada-pytorch to time beside ours")
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
            full = render(G, ws, None).image
            with torch.autocast("cpu", dtype=torch.bfloat16):
                row["bf16_p50_ms"] = timed(lambda: render(G, ws, None), runs)[0]
                row["bf16_max_diff"] = round(float((render(G, ws, None).image.float() - full).abs().max()), 4)
        if args.upstream is not None:
            row["upstream_p50_ms"] = upstream_ms(G, args.upstream, runs)
        if res <= 256:
            row["drag_step_ms"] = drag_step_ms(G, max(3, runs // 2))
        else:
            row["memory_mb"] = memory_mb(res, base)
            import tempfile
            with tempfile.TemporaryDirectory() as tmp:
                row["editor_memory_mb"] = editor_memory_mb(res, base, Path(tmp))
        rows.append(row)
        print(row, flush=True)
    mach = machine()
    lines = header("Imported StyleGAN2-ADA models: latency on the CPU", mach)
    lines += [f"{torch.get_num_threads()} torch threads, float32, batch 1, random weights in the real configurations "
              f"(num_fp16_res 4 and conv clamp 256 as trained; inference runs in float32). Load average at the end: "
              f"{mach['load_average']}.", "",
              "| model | params | full p50 / p95 | draft (block) p50 / p95 | bfloat16 p50 (largest pixel diff) | "
              "our generator, same size, p50 | upstream, same weights, p50 | DragGAN step | memory: model / editor |",
              "|---|---|---|---|---|---|---|---|---|"]

    def ms(r: dict, key: str) -> str:
        return f"{r[key]} ms" if r.get(key) is not None else "-"

    for r in rows:
        mem = "-" if "memory_mb" not in r else f"{r['memory_mb']} / {r.get('editor_memory_mb') or '-'} MB"
        lines.append(f"| {r['model']} | {r['params_M']} M | {r['full_p50_ms']} / {r['full_p95_ms']} ms | "
                     f"{r['draft_p50_ms']} / {r['draft_p95_ms']} ms ({r['draft_resolution']} px) | "
                     f"{r['bf16_p50_ms']} ms ({r['bf16_max_diff']}) | {r['ours_p50_ms']} ms | "
                     f"{ms(r, 'upstream_p50_ms')} | {ms(r, 'drag_step_ms')} | {mem} |")
    lines += ["", "Full and draft go through `spatialgan.render`, as the editor's worker renders. \"Our generator\" is "
              "`Generator` with the same channels, w_dim and mapping depth and no heatmaps, fused "
              "(`spatialgan.fused`). bfloat16 runs the same render under `torch.autocast`; its pixel difference is the "
              "largest against float32 on pixels in [-1, 1]. \"Upstream\" is NVIDIA's stylegan2-ada-pytorch (from "
              "`--upstream`, outside this project) on the same weights, float32, in the same process. The DragGAN "
              "step is one w update (motion supervision and tracking at the default feature block) of "
              "`draggan.DragSession` in mode draggan. Memory is the peak resident size of a fresh process that "
              "builds the 1024 px model and draws one picture, and of the editor (`run_gui.py --screenshot`) opening "
              "it.", ""]
    write(args.out, "\n".join(lines), {"machine": mach, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
