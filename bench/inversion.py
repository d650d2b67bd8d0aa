"""Photo inversion on held-out procedural images (a dataset seed no bundled model trained on), whose true object
centres the data generator knows.

    python bench/inversion.py checkpoints/pets64.safetensors checkpoints/rooms64.safetensors --num 50

Per model: reconstruction PSNR after each stage (w, w+ with the layout, pivotal tuning), the distance of the
recovered object centres from the true ones (pets: the root against the pet's centroid; rooms: each true object
against the nearest recovered one), and the seconds per inversion on this machine with the default settings.
Writes bench/results/inversion_cpu.{md,json}.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from spatialgan import load_generator
from spatialgan.data.procedural import PetsDataset, RoomsDataset
from spatialgan.inversion import InversionConfig, invert
from spatialgan.metrics.report import header, machine, write
from spatialgan.photo import to_tensor
from spatialgan.render import render

HELD_OUT = 7919  # the bundled models trained on dataset seed 0


def centre_errors(found: list[tuple[float, float]], true: np.ndarray) -> list[float]:
    """For every true object, the distance (image units) to the nearest recovered object centre."""
    f = np.asarray(found, np.float64)
    return [float(np.min(np.hypot(*(f - t).T))) for t in true]


OTHER_SEEDS = (101, 202, 303)  # pictures that pivotal tuning should leave as they were


def others(model, spec_of) -> torch.Tensor:
    """The model's pictures of OTHER_SEEDS at psi 0.7, each with its own default layout."""
    with torch.no_grad():
        return torch.cat([render(model, model.seed_ws(s, 0.7), spec_of(s).to_batch()).image for s in OTHER_SEEDS])


def measure(path: Path, num: int, steps: int) -> dict:
    G, _ = load_generator(str(path), None, "cpu")
    data = (PetsDataset if G.config.heatmap.mode == "hierarchical" else RoomsDataset)(G.config.resolution, seed=HELD_OUT)
    cfg = InversionConfig(w_steps=steps, wplus_steps=steps, pti_steps=steps)
    base = others(G, G.default_layout)
    rows = []
    for i in range(num):
        sample = data.sample(i)
        t0 = time.perf_counter()
        r = invert(G, to_tensor(sample.image), cfg)
        errors = centre_errors(r.spec.object_places(), sample.centres) if r.spec is not None else []
        seconds = time.perf_counter() - t0
        # the locality of the tuning: how far other pictures moved, in levels of 0..255
        drift = float((others(r.model, G.default_layout) - base).abs().mean() * 127.5)
        rows.append({"index": i, **{f"psnr_{k}": v for k, v in r.psnr.items()}, "seconds": seconds,
                     "centre_errors": errors, "other_pictures_drift": drift})
        print(path.stem, rows[-1], flush=True)
    errs = [e for r in rows for e in r["centre_errors"]]
    return {"model": path.stem, "images": num, "steps": steps,
            **{f"psnr_{k}_median": statistics.median(r[f"psnr_{k}"] for r in rows) for k in ("w", "w+", "final")},
            "final_psnr_at_least_28": sum(r["psnr_final"] >= 28 for r in rows) / num,
            "centre_error_median": statistics.median(errs) if errs else None,
            "centres_within_0.1": sum(e <= 0.1 for e in errs) / len(errs) if errs else None,
            "seconds_median": statistics.median(r["seconds"] for r in rows),
            "other_pictures_drift_median": statistics.median(r["other_pictures_drift"] for r in rows), "rows": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoints", type=Path, nargs="+")
    ap.add_argument("--num", type=int, default=50, help="held-out images per model")
    ap.add_argument("--steps", type=int, default=100, help="steps in each of the three stages (the default settings)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "inversion_cpu")
    args = ap.parse_args()
    results = [measure(p, args.num, args.steps) for p in args.checkpoints]
    mach = machine()
    lines = header("Photo inversion on held-out procedural images", mach)
    lines += [f"{args.num} images per model from dataset seed {HELD_OUT}, {args.steps} steps in each stage (the "
              f"defaults of the editor and spatialgan-invert), {torch.get_num_threads()} torch threads. PSNR on pixels in [0, 255]; centre error in image "
              f"units (for rooms, each true object against the nearest recovered centre). Load average at the end: "
              f"{mach['load_average']}.", "",
              "| model | PSNR w | PSNR w+ and layout | PSNR after tuning | >= 28 dB | centre error (median) | "
              "centres within 0.1 | seconds per inversion | other pictures moved |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        ce = "-" if r["centre_error_median"] is None else f"{r['centre_error_median']:.3f}"
        cw = "-" if r["centres_within_0.1"] is None else f"{r['centres_within_0.1']:.0%}"
        lines.append(f"| {r['model']} | {r['psnr_w_median']:.1f} dB | {r['psnr_w+_median']:.1f} dB | "
                     f"{r['psnr_final_median']:.1f} dB | {r['final_psnr_at_least_28']:.0%} | {ce} | {cw} | "
                     f"{r['seconds_median']:.0f} s | {r['other_pictures_drift_median']:.1f} levels |")
    lines += ["", "Medians over the images. `spatialgan.inversion`: W, then W+ with the heatmap centres and sigmas, "
              "then pivotal tuning with a locality term; the loss is pixel MSE at three scales. \"Other pictures "
              f"moved\": the mean change, in levels of 0-255, of the model's pictures of seeds {OTHER_SEEDS} under the "
              "tuned weights (what the locality term keeps small).", ""]
    write(args.out, "\n".join(lines), {"machine": mach, "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
