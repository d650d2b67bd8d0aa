"""Moving a whole object on a model by its features (`spatialgan.objects`), against DragGAN with one and four
handle pairs on the same moves.

    python bench/object_moves.py checkpoints/pets64-plain.safetensors --segmenter checkpoints/seg_pets64.safetensors \\
        --num 200 --reference checkpoints/pets64.safetensors

For each of `--num` pictures (seeds from `--seed`): the segmenter's objects (1% of the picture or more); one of
them, drawn at random, is
clicked at its pixel nearest its centroid and moved by p (|p| 0.08-0.2 of the image, a random direction, the
object's centre kept 0.05 inside). Methods, on the same click and move:

- region move: the click's selection (`Selection.object_at`) moved by p after the edit block, no optimisation;
- region move + refine: that, then DragGAN with four handles spread over the region (`draggan.objects`);
- DragGAN 1 pair: one handle at the click, its target at click + p;
- DragGAN 4 pairs: four handles spread over the selection, each moved by p (no mask).

Measures: the selection's IoU with the segmenter's object; the segmented co-move (paper Table I's: the object
under the click found again in the new picture by its segmenter features and colour, q its centroid's move,
ratio p.q / |p|^2); the far change (mean |after - before| of pixels farther than 0.3 from the object's centre before
and after the move, as bench/move_locality.py); the drag preview's cost (a render with the move) as a multiple of a
plain render in the same run. With `--reference`, the segmented co-move of that heatmap model's centre moves with
the carry (`spatialgan-metrics comove --carry 16`) on the same data. Writes bench/results/object_moves_<model>.{md,json}.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from draggan import DragConfig, DragSession
from draggan.objects import object_edit, picture_selection, refine_session
from spatialgan.fused import fuse
from spatialgan.loading import load
from spatialgan.metrics.comove import CoMoveConfig, centroid, co_move_ratio, components, match_displacement
from spatialgan.metrics.report import header, machine, write
from spatialgan.metrics.segmentation import load_segmenter
from spatialgan.objects import cached_clusters, middle_pixel, region_handles
from spatialgan.render import render

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("region move", "region move + refine", "DragGAN 1 pair", "DragGAN 4 pairs")
FAR = 0.3  # image units: the far change counts pixels at least this far from the object before and after
MIN_OBJECT = 0.01  # share of the picture: smaller segments (specks, a stray ear) are not objects to click


def _segment(seg, image: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels (r, r), features (C, r, r) and the picture (3, r, r) at the segmenter's resolution."""
    small = F.interpolate(image.float().clamp(-1, 1), size=(seg.config.resolution,) * 2, mode="area")
    lab, feat = seg.predict(small)
    return lab[0].cpu().numpy(), feat[0].cpu().numpy(), small[0].cpu().numpy()


def _far_change(before: torch.Tensor, after: torch.Tensor, c0: np.ndarray, c1: np.ndarray) -> float:
    r = before.shape[-1]
    u = (np.arange(r) + 0.5) / r
    xx, yy = np.meshgrid(u, u)
    far = (np.hypot(xx - c0[0], yy - c0[1]) > FAR) & (np.hypot(xx - c1[0], yy - c1[1]) > FAR)
    if not far.any():
        return float("nan")
    diff = (after - before).abs().mean(1)[0].cpu().numpy()
    return float(diff[far].mean())


def _draw_move(gen: np.random.Generator, centre: np.ndarray, cfg: CoMoveConfig) -> np.ndarray | None:
    for _ in range(20):
        length, angle = gen.uniform(cfg.min_shift, cfg.max_shift), gen.uniform(0, 2 * math.pi)
        p = length * np.array([math.cos(angle), math.sin(angle)])
        if np.all((centre + p >= cfg.margin) & (centre + p <= 1 - cfg.margin)):
            return p
    return None


def measure(path: Path, seg_path: Path, num: int, seed: int, steps: int, one_class: bool) -> dict:
    G = load(path)
    clusters = cached_clusters(G)[0]
    G = fuse(G)
    seg = load_segmenter(seg_path)
    res = G.capabilities.resolution
    cfg = CoMoveConfig(one_class=one_class)
    gen = np.random.default_rng(seed)
    drag = DragConfig(mode="draggan", max_steps=steps)
    rows: list[dict] = []
    skipped = 0
    for i in range(num):
        s = seed * 100_000 + i
        ws = G.seed_ws(s, 0.7)
        spec = G.default_layout(s)
        layout = spec.to_batch() if spec is not None else None
        with torch.no_grad():
            t0 = time.perf_counter()
            before = render(G, ws, layout).image
            t_plain = time.perf_counter() - t0
        lab0, f0, img0 = _segment(seg, before)
        # the objects to click: connected regions of one label, or of any (a pet read as part cat, part dog is
        # still one pet, and with --one-class the co-move matches it whole after the move too)
        objects = components((lab0 > 0).astype(lab0.dtype) if one_class else lab0,
                             max(cfg.min_area, round(MIN_OBJECT * lab0.size)))
        if not objects:
            skipped += 1
            continue
        _, obj = objects[int(gen.integers(len(objects)))]
        sr = obj.shape[0]
        click, centre = np.array(middle_pixel(obj)), centroid(obj)
        p = _draw_move(gen, centre, cfg)
        if p is None:
            skipped += 1
            continue
        sel = picture_selection(G, clusters, ws, layout).object_at(*click)
        iou = float((sel.at(sr) & obj).sum() / (sel.at(sr) | obj).sum())
        handle = (float(click[0] * res - 0.5), float(click[1] * res - 0.5))
        target = (handle[0] + float(p[0]) * res, handle[1] + float(p[1]) * res)
        edit = object_edit(sel, handle, target, res)
        row: dict = {"seed": s, "p": p.tolist(), "iou": iou, "selected_share": float(sel.mask.mean())}
        with torch.no_grad():
            t0 = time.perf_counter()
            moved = render(G, ws, layout, edits=[edit]).image
            row["preview_renders"] = (time.perf_counter() - t0) / t_plain
        pictures = {"region move": moved}
        session = refine_session(G, ws, spec, edit, drag)
        session.run()
        pictures["region move + refine"] = session.render()
        one = DragSession(G, ws, spec, [handle], [_inside(target, res)], config=drag)
        one.run()
        pictures["DragGAN 1 pair"] = one.render()
        pairs = [(h, (h[0] + p[0] * res, h[1] + p[1] * res)) for h in region_handles(sel.mask, res, 4)]
        pairs = [(h, t) for h, t in pairs if 0 <= t[0] <= res - 1 and 0 <= t[1] <= res - 1] or [(handle, target)]
        four = DragSession(G, ws, spec, [h for h, _ in pairs], [t for _, t in pairs], config=drag)
        four.run()
        pictures["DragGAN 4 pairs"] = four.render()
        for name, picture in pictures.items():
            lab1, f1, img1 = _segment(seg, picture)
            q = match_displacement(lab0, f0, img0, lab1, f1, img1, click, cfg)
            row[name] = {"comove": None if isinstance(q, str) else float(np.dot(p, q) / np.dot(p, p)),
                         "far_change": _far_change(before, picture.float().clamp(-1, 1), centre, centre + p)}
        rows.append(row)
        print(f"{i + 1}/{num} iou {iou:.2f} " + " ".join(
            f"{n.split()[0][0]}{n[-6:]}:{row[n]['comove']}" for n in METHODS), flush=True)
    return {"checkpoint": str(path), "rows": rows, "skipped": skipped, "steps": steps, "one_class": one_class}


def _inside(t: tuple[float, float], res: int) -> tuple[float, float]:
    return (min(max(t[0], 0.0), res - 1.0), min(max(t[1], 0.0), res - 1.0))


def summary(result: dict) -> dict:
    rows = result["rows"]
    out: dict = {"moves": len(rows), "skipped": result["skipped"],
                 "iou_median": statistics.median(r["iou"] for r in rows),
                 "preview_renders_median": statistics.median(r["preview_renders"] for r in rows)}
    for name in METHODS:
        c = [r[name]["comove"] for r in rows if r[name]["comove"] is not None]
        f = [r[name]["far_change"] for r in rows if not math.isnan(r[name]["far_change"])]
        out[name] = {"comove": statistics.fmean(c) if c else None, "comove_median": statistics.median(c) if c else None,
                     "measured": len(c), "far_change": statistics.fmean(f) if f else None}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--segmenter", type=Path, required=True)
    ap.add_argument("--reference", type=Path, help="a heatmap model of the same data: its carried co-move")
    ap.add_argument("--num", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=100, help="DragGAN steps at most (default 100)")
    ap.add_argument("--one-class", action="store_true",
                    help="an object is a connected region of any object labels, in the pictures before and after "
                         "the move (single-object data: pets)")
    ap.add_argument("--out", type=Path, help="results stem (default bench/results/object_moves_<model>)")
    args = ap.parse_args()
    mach = machine()
    result = measure(args.checkpoint, args.segmenter, args.num, args.seed, args.steps, args.one_class)
    s = summary(result)
    ref = None
    if args.reference is not None:
        G_ref = fuse(load(args.reference))
        ref = co_move_ratio(G_ref, load_segmenter(args.segmenter), args.num, seed=args.seed, progress=False,
                            carry=16, cfg=CoMoveConfig(one_class=args.one_class)).to_dict()
    name = args.checkpoint.stem
    md = header(f"Moving objects by their features: {name}", mach)
    md += [f"{s['moves']} moves ({s['skipped']} pictures skipped: no object, or no room to move it); DragGAN "
           f"{result['steps']} steps at most. Selection IoU with the segmenter's object: median "
           f"{s['iou_median']:.2f}. Drag preview: {s['preview_renders_median']:.2f} plain renders (median).", "",
           "| method | segmented co-move, mean (median) | measured | far change |", "|---|---|---|---|"]
    for n in METHODS:
        m = s[n]
        co = "-" if m["comove"] is None else f"{m['comove']:.3f} ({m['comove_median']:.3f})"
        far = "-" if m["far_change"] is None else f"{m['far_change']:.4f}"
        md.append(f"| {n} | {co} | {m['measured']} | {far} |")
    if ref is not None:
        md += ["", f"Reference: {args.reference.stem}'s centre moves with the carry (after the 16 px block), the "
                   f"same segmenter: co-move {ref['ratio']:.3f} (median {ref['median']:.3f}), {ref['measured']} of "
                   f"{ref['attempted']} moves measured."]
    out = args.out or ROOT / "bench" / "results" / f"object_moves_{name}"
    write(out, "\n".join(md) + "\n", {"machine": mach, "summary": s, "reference": ref, **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
