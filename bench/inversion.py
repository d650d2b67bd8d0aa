"""Photo inversion on held-out procedural images (a dataset seed no bundled model trained on), whose true object
centres the data generator knows.

    python bench/inversion.py checkpoints/pets64.safetensors checkpoints/rooms64.safetensors --num 50 --large
    python bench/inversion.py checkpoints/pets64.safetensors checkpoints/rooms64.safetensors --num 10 \\
        --perceptual 0.5 --out bench/results/inversion_perceptual_cpu

Per model, with the default settings: reconstruction PSNR after each stage (W with the layout, W+ with the
layout, pivotal tuning) and a perceptual distance after the last (`spatialgan.metrics.perceptual`); the distance
of the recovered object centres from the true ones (pets: the root against the pet's centroid; rooms: each true
object against the nearest recovered one); seconds per inversion; how far pivotal tuning moves other seeds'
pictures; and whether edits still work: one random move of an object per image, on the inverted scene (tuned
weights) and on a sampled scene (the model's own, same move), each drawn with the object's look carried along as
the editor does. Co-move ratio: how far the patch under the object followed the move (1 = all the way); far /
near: the pixel change far from the move against the change near it (small = the rest of the picture stays).
`--large` also times inversions through imported 256 and 1024 px StyleGAN2 generators (random weights: the time
does not depend on them), each also as a multiple of one full render of the same model. `--before` compares with
an earlier run of this script, image by image (run it on the previous commit for a before/after table). Writes
bench/results/inversion_cpu.{md,json} (or --out).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from spatialgan import load_generator
from spatialgan.data.procedural import PetsDataset, RoomsDataset
from spatialgan.heatmaps import HeatmapSpec
from spatialgan.inversion import InversionConfig, invert
from spatialgan.metrics.comove import track_patch
from spatialgan.metrics.perceptual import InceptionDistance
from spatialgan.metrics.report import header, machine, write
from spatialgan.photo import to_tensor
from spatialgan.render import render

HELD_OUT = 7919  # the bundled models trained on dataset seed 0
OTHER_SEEDS = (101, 202, 303)  # pictures that pivotal tuning should leave as they were
SAMPLED = 50_000  # seeds of the sampled scenes the inverted ones are compared with
NEAR, FAR = 0.15, 0.3  # image units from the moved object's old or new place


def centre_errors(found: list[tuple[float, float]], true: np.ndarray) -> list[float]:
    """For every true object, the distance (image units) to the nearest recovered object centre."""
    f = np.asarray(found, np.float64)
    return [float(np.min(np.hypot(*(f - t).T))) for t in true]


def others(model, spec_of) -> torch.Tensor:
    """The model's pictures of OTHER_SEEDS at psi 0.7, each with its own default layout."""
    with torch.no_grad():
        return torch.cat([render(model, model.seed_ws(s, 0.7), spec_of(s).to_batch()).image for s in OTHER_SEEDS])


def draw_move(spec: HeatmapSpec, rng: np.random.Generator) -> tuple[int, np.ndarray]:
    """A random object of `spec` and a shift of 0.08-0.2 image units that keeps it 0.05 inside the picture."""
    index = int(rng.integers(len(spec.levels[0])))
    place = np.array(spec.object_places()[index])
    length, angle = rng.uniform(0.08, 0.2), rng.uniform(0, 2 * math.pi)
    target = np.clip(place + length * np.array([math.cos(angle), math.sin(angle)]), 0.05, 0.95)
    return index, target - place


@torch.no_grad()
def edit(model, ws: torch.Tensor, spec: HeatmapSpec, index: int, shift: np.ndarray) -> dict[str, float | None]:
    """Move object `index` by `shift` as the editor does (its tree along, its look carried) and measure the move:
    co-move ratio by patch tracking (None on a flat patch) and far / near pixel change."""
    before = np.array(spec.object_places()[index])
    moved = spec.copy()
    moved.move_by(0, index, *shift)
    homes = torch.tensor([spec.object_places()], dtype=torch.float32)
    img0 = render(model, ws, spec.to_batch()).image.clamp(-1, 1)[0]
    img1 = render(model, ws, moved.to_batch(), homes=homes).image.clamp(-1, 1)[0]
    q = track_patch(img0, img1, before, search=0.25)
    ratio = None if isinstance(q, str) else float(np.dot(shift, q) / np.dot(shift, shift))
    r = img0.shape[-1]
    axis = (torch.arange(r) + 0.5) / r
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    d_old = torch.hypot(xx - before[0], yy - before[1])
    d_new = torch.hypot(xx - before[0] - shift[0], yy - before[1] - shift[1])
    change = (img1 - img0).abs().mean(0)
    near, far = change[(d_old < NEAR) | (d_new < NEAR)], change[(d_old > FAR) & (d_new > FAR)]
    return {"co_move": ratio, "far_over_near": float(far.mean() / near.mean()) if far.numel() else None}


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def measure(path: Path, num: int, num_large: int | None, steps: int, perceptual: float,
            distance: InceptionDistance) -> dict:
    G, _ = load_generator(str(path), None, "cpu")
    num = num_large if num_large is not None and G.config.resolution >= 128 else num
    data = (PetsDataset if G.config.heatmap.mode == "hierarchical" else RoomsDataset)(G.config.resolution, seed=HELD_OUT)
    cfg = InversionConfig(w_steps=steps, wplus_steps=steps, pti_steps=steps, perceptual=perceptual)
    base = others(G, G.default_layout)
    rows = []
    for i in range(num):
        sample = data.sample(i)
        target = to_tensor(sample.image)
        t0 = time.perf_counter()
        r = invert(G, target, cfg)
        seconds = time.perf_counter() - t0
        assert r.spec is not None
        errors = centre_errors(r.spec.object_places(), sample.centres)
        # the locality of the tuning: how far other pictures moved, in levels of 0..255
        drift = float((others(r.model, G.default_layout) - base).abs().mean() * 127.5)
        with torch.no_grad():
            perceptual_distance = float(distance(r.image, target))
        rng = np.random.default_rng(i)
        index, shift = draw_move(r.spec, rng)
        inverted = edit(r.model, r.ws, r.spec, index, shift)
        spec = G.default_layout(SAMPLED + i)
        index, shift = draw_move(spec, rng)
        sampled = edit(G, G.seed_ws(SAMPLED + i, 0.7), spec, index, shift)
        rows.append({"index": i, **{f"psnr_{k}": v for k, v in r.psnr.items()}, "perceptual": perceptual_distance,
                     "seconds": seconds, "centre_errors": errors, "other_pictures_drift": drift,
                     **{f"inverted_{k}": v for k, v in inverted.items()},
                     **{f"sampled_{k}": v for k, v in sampled.items()}})
        print(path.stem, rows[-1], flush=True)
    errs = [e for row in rows for e in row["centre_errors"]]
    keys = ("psnr_w", "psnr_w+", "psnr_final", "perceptual", "seconds", "other_pictures_drift", "inverted_co_move",
            "sampled_co_move", "inverted_far_over_near", "sampled_far_over_near")
    return {"model": path.stem, "images": num, "steps": steps, "perceptual_weight": perceptual,
            **{f"{k}_median": median(row[k] for row in rows) for k in keys},
            "final_psnr_at_least_28": sum(row["psnr_final"] >= 28 for row in rows) / num,
            "centre_error_median": median(errs), "centres_within_0.1": sum(e <= 0.1 for e in errs) / len(errs),
            "co_move_measured": sum(row["inverted_co_move"] is not None for row in rows), "rows": rows}


def stage_times(G, target: torch.Tensor, cfg: InversionConfig) -> tuple[dict[str, float], float]:
    """Median seconds per step of each stage of one inversion, and its total seconds."""
    times: dict[str, list[float]] = {}
    last = [time.perf_counter()]

    def tick(stage: str, step: int, loss: float) -> None:
        now = time.perf_counter()
        times.setdefault(stage, []).append(now - last[0])
        last[0] = now

    t0 = time.perf_counter()
    invert(G, target, cfg, callback=tick)
    return {k: statistics.median(v[1:] or v) for k, v in times.items()}, time.perf_counter() - t0


def large(steps: int, timed_steps: int) -> list[dict]:
    """One inversion, default settings, through imported StyleGAN2 generators in their real configurations (random
    weights: the time does not depend on them), each against one full render of the same model. The 256 px one
    runs whole; the 1024 px one runs `timed_steps` steps per stage, and its total is those steps' median times
    the default step counts (before the faster steps, a whole run would have taken about 1.8 hours)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from import_latency import CONFIGS, sg2

    out = []
    for name, whole in (("paper256", True), ("config-f 1024", False)):
        G = sg2(*CONFIGS[name]).eval()
        res = G.capabilities.resolution
        with torch.no_grad():
            ws = G.mean_ws()
            render(G, ws, None)
            t0 = time.perf_counter()
            render(G, ws, None)
            full = time.perf_counter() - t0
        target = to_tensor(PetsDataset(res, seed=HELD_OUT).sample(0).image)
        n = steps if whole else timed_steps
        per_step, seconds = stage_times(G, target, InversionConfig(w_steps=n, wplus_steps=n, pti_steps=n))
        if not whole:
            seconds = steps * sum(per_step.values())
        out.append({"model": f"StyleGAN2 {name} (imported, random weights)", "resolution": res, "measured": whole,
                    "seconds": seconds, "full_render_seconds": full, "renders": seconds / full,
                    "step_seconds": per_step})
        print(out[-1], flush=True)
    return out


def compare(before: dict, results: list[dict], big: list[dict]) -> list[str]:
    """Table rows of median PSNR and seconds before and after, per model, over the image indices both runs hold."""
    lines = ["| model | images | PSNR tuned, before / after | seconds, before / after | speed-up |",
             "|---|---|---|---|---|"]
    old = {r["model"]: r for r in before["results"]}
    for r in results:
        if r["model"] not in old:
            continue
        rows0 = {row["index"]: row for row in old[r["model"]]["rows"]}
        both = [(rows0[row["index"]], row) for row in r["rows"] if row["index"] in rows0]
        if not both:
            continue
        p0, p1 = (statistics.median(x[k]["psnr_final"] for x in both) for k in (0, 1))
        s0, s1 = (statistics.median(x[k]["seconds"] for x in both) for k in (0, 1))
        lines.append(f"| {r['model']} | {len(both)} | {p0:.2f} / {p1:.2f} dB | {s0:.1f} / {s1:.1f} s | "
                     f"{s0 / s1:.2f}x |")
    old_big = {b["model"]: b for b in before.get("large") or []}
    for b in big:
        if b["model"] in old_big:
            b0 = old_big[b["model"]]
            lines.append(f"| {b['model']} | 1 | - | {b0['seconds']:.0f} / {b['seconds']:.0f} s "
                         f"({b0['renders']:.0f} / {b['renders']:.0f} renders) | {b0['seconds'] / b['seconds']:.2f}x |")
    return lines


def number(v: float | None, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoints", type=Path, nargs="+")
    ap.add_argument("--num", type=int, default=50, help="held-out images per model")
    ap.add_argument("--num-large", type=int, help="held-out images per model of 128 px or more (default: --num)")
    ap.add_argument("--steps", type=int, default=100, help="steps in each of the three stages (the default settings)")
    ap.add_argument("--perceptual", type=float, default=InversionConfig.perceptual,
                    help="weight of the perceptual term in the inversion's loss (default: the product's)")
    ap.add_argument("--large", action="store_true", help="also time inversions through imported 256 and 1024 px models")
    ap.add_argument("--timed-steps", type=int, default=4, help="steps per stage timed at 1024 px (with --large)")
    ap.add_argument("--before", type=Path, help="an earlier results file of this script (for example from the "
                                                "previous commit), compared on the images both runs hold")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "inversion_cpu")
    args = ap.parse_args()
    before = json.loads(args.before.read_text()) if args.before else None  # read first: a bad path fails at once
    distance = InceptionDistance()
    results = [measure(p, args.num, args.num_large, args.steps, args.perceptual, distance) for p in args.checkpoints]
    big = large(args.steps, args.timed_steps) if args.large else []
    mach = machine()
    lines = header("Photo inversion on held-out procedural images", mach)
    lines += [f"{args.num} images per model ({args.num_large or args.num} at 128 px) from dataset seed {HELD_OUT}, "
              f"{args.steps} steps in each stage (the defaults of the editor and spatialgan-invert), perceptual weight "
              f"{args.perceptual}, "
              f"{torch.get_num_threads()} torch threads. Load average at the end: {mach['load_average']}.", "",
              "| model | PSNR W | PSNR W+ | PSNR tuned | >= 28 dB | perceptual distance | centre error | "
              "centres within 0.1 | seconds | other pictures moved |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['model']} | {r['psnr_w_median']:.1f} dB | {r['psnr_w+_median']:.1f} dB | "
                     f"{r['psnr_final_median']:.1f} dB | {r['final_psnr_at_least_28']:.0%} | "
                     f"{r['perceptual_median']:.4f} | {r['centre_error_median']:.3f} | {r['centres_within_0.1']:.0%} | "
                     f"{r['seconds_median']:.0f} s | {r['other_pictures_drift_median']:.1f} levels |")
    lines += ["", "Edits on the inverted scenes against the model's own scenes (one random move per image):", "",
              "| model | co-move, inverted | co-move, sampled | far / near, inverted | far / near, sampled | "
              "moves tracked |", "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['model']} | {number(r['inverted_co_move_median'], '.2f')} | "
                     f"{number(r['sampled_co_move_median'], '.2f')} | "
                     f"{number(r['inverted_far_over_near_median'], '.2f')} | "
                     f"{number(r['sampled_far_over_near_median'], '.2f')} | {r['co_move_measured']} of {r['images']} |")
    if big:
        lines += ["", "Through imported StyleGAN2 generators, default settings, against one full render of the same "
                  "model:", "", "| model | seconds | full renders | seconds per step: W, W+, PTI |",
                  "|---|---|---|---|"]
        for b in big:
            steps = ", ".join(f"{b['step_seconds'].get(k, 0):.2f}" for k in ("w", "w+", "pti"))
            how = "" if b["measured"] else f" (from {args.timed_steps} timed steps per stage)"
            lines.append(f"| {b['model']} | {b['seconds']:.0f} s{how} | {b['renders']:.0f} | {steps} |")
    if before is not None:
        lines += ["", f"Before and after, on the images both runs hold (before: `{args.before}`):", "",
                  *compare(before, results, big)]
    lines += ["", "Medians over the images. PSNR on pixels in [0, 255]. Perceptual distance: "
              "`spatialgan.metrics.perceptual` (normalised Inception features; 0 = same picture). Centre error in "
              "image units (rooms: each true object against the nearest recovered centre). \"Other pictures moved\": "
              f"the mean change, in levels of 0-255, of the model's pictures of seeds {OTHER_SEEDS} under the tuned "
              "weights.", ""]
    write(args.out, "\n".join(lines), {"machine": mach, "results": results, "large": big,
                                       "before": str(args.before) if args.before else None})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
