"""Removing an object by its features (`spatialgan.objects`, the editor's Del): does the object go, and does the
rest stay?

    python bench/object_removal.py checkpoints/pets64.safetensors:checkpoints/seg_pets64.safetensors \\
        checkpoints/rooms64.safetensors:checkpoints/seg_rooms32.safetensors --num 100

For each MODEL:SEGMENTER and each of `--num` pictures (seeds 0..num-1, psi 0.7): the segmenter's largest object
(1% of the picture or more) is clicked at its pixel nearest its centroid and removed. Measures: the share of the
object's pixels the segmenter still reads as an object after the removal ("left", 0 is gone), the same for the
model's own removal where it has heatmaps (the centre switched off, as the editor's "present" box does), and the
mean absolute change of the pixels 0.3 or more from the object's centre. Writes bench/results/object_removal.{md,json}.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

from draggan.objects import picture_selection
from spatialgan.fused import fuse
from spatialgan.loading import load
from spatialgan.metrics.comove import centroid, components
from spatialgan.metrics.report import header, machine, write
from spatialgan.metrics.segmentation import load_segmenter
from spatialgan.objects import ObjectEdit, cached_clusters, middle_pixel
from spatialgan.render import render

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from object_moves import MIN_OBJECT, _far_change, _segment  # noqa: E402  (a sibling script: the same measures)


def _objects(seg, image: torch.Tensor) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Where the segmenter sees any object (bool, at its resolution)."""
    return _segment(seg, image)[0] > 0


@torch.no_grad()
def measure(model: Path, segmenter: Path, num: int) -> dict:
    G = load(model)
    clusters = cached_clusters(G)[0]
    G = fuse(G)
    seg = load_segmenter(segmenter)
    rows = []
    for seed in range(num):
        ws = G.seed_ws(seed, 0.7)
        spec = G.default_layout(seed)
        layout = spec.to_batch() if spec is not None else None
        before = render(G, ws, layout).image
        fg = _objects(seg, before)
        found = components(fg.astype(np.int64), max(6, round(MIN_OBJECT * fg.size)))
        if not found:
            continue
        obj = max((m for _, m in found), key=lambda m: m.sum())
        click, centre = middle_pixel(obj), centroid(obj)
        sel = picture_selection(G, clusters, ws, layout).object_at(*click)
        after = render(G, ws, layout, edits=[ObjectEdit.from_selection(sel.mask, None)]).image
        row = {"seed": seed, "left": float(_objects(seg, after)[obj].mean()),
               "far_change": _far_change(before, after.clamp(-1, 1), centre, centre)}
        if spec is not None:  # the heatmap model's own removal of the object whose centre is nearest the click
            places = spec.object_places()
            i = int(np.argmin([np.hypot(x - click[0], y - click[1]) for x, y in places]))
            off = spec.copy()
            off.set_enabled(0, i, False)
            gone = render(G, ws, off.to_batch()).image
            row["heatmap_left"] = float(_objects(seg, gone)[obj].mean())
            row["heatmap_far_change"] = _far_change(before, gone.clamp(-1, 1), centre, centre)
        rows.append(row)
    out = {"model": model.stem, "removals": len(rows)}
    for key in ("left", "far_change", "heatmap_left", "heatmap_far_change"):
        vals = [r[key] for r in rows if key in r]
        out[key] = statistics.median(vals) if vals else None
        if key in ("left", "heatmap_left") and vals:
            out[key + "_gone"] = sum(v < 0.2 for v in vals) / len(vals)
    print(out, flush=True)
    return {"summary": out, "rows": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pairs", nargs="+", help="MODEL:SEGMENTER")
    ap.add_argument("--num", type=int, default=100)
    args = ap.parse_args()
    mach = machine()
    results = [measure(Path(m), Path(s), args.num) for m, s in (p.split(":") for p in args.pairs)]
    md = header("Removing an object by its features", mach)
    md += ["Left: the share of the object's pixels still read as an object after the removal (median; \"gone\": "
           "removals that leave under 20%). Far change: mean |after - before| 0.3 or more from the object.", "",
           "| model | removals | object tool: left (gone) | far change | heatmap removal: left (gone) | far change |",
           "|---|---|---|---|---|---|"]

    def cell(v: float | None, digits: int = 3) -> str:
        return "-" if v is None else f"{v:.{digits}f}"

    for r in results:
        s = r["summary"]
        md.append(f"| {s['model']} | {s['removals']} | {cell(s['left'], 2)} ({cell(s.get('left_gone'), 2)}) | "
                  f"{cell(s['far_change'])} | {cell(s['heatmap_left'], 2)} ({cell(s.get('heatmap_left_gone'), 2)}) | "
                  f"{cell(s['heatmap_far_change'])} |")
    write(ROOT / "bench" / "results" / "object_removal", "\n".join(md) + "\n", {"machine": mach, "models": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
