"""How well does one click select an object? The selection (`spatialgan.objects`) against a segmenter's object, for
the clustering settings: the clustered block, the number of clusters and the border ratio below which a cluster is
part of objects.

    python bench/object_selection.py checkpoints/pets64.safetensors:checkpoints/seg_pets64.safetensors \\
        checkpoints/rooms64.safetensors:checkpoints/seg_rooms32.safetensors --num 40

For each MODEL:SEGMENTER and each of `--num` pictures (seeds 0..num-1, psi 0.7; the clusters are fitted on other
seeds), the segmenter's largest object is clicked at its pixel nearest its centroid; the score is the IoU of the
selection with that object at the segmenter's resolution (median over the pictures). Writes
bench/results/object_selection.{md,json}.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from spatialgan.loading import load
from spatialgan.metrics.comove import components
from spatialgan.metrics.report import header, machine, write
from spatialgan.metrics.segmentation import load_segmenter
from spatialgan.objects import fit_clusters, label_maps
from spatialgan.objects.clusters import CLUSTER_BLOCK, NUM_CLUSTERS, OBJECT_BORDER
from spatialgan.objects.selection import Selection, middle_pixel
from spatialgan.render import render

ROOT = Path(__file__).resolve().parents[1]


def pictures(G, seg, num: int, blocks: list[int]) -> list[tuple[dict, np.ndarray, tuple[float, float]]]:  # type: ignore[no-untyped-def]
    """(features by block, the largest object's mask, the click in image units) of each picture with an object."""
    out = []
    for seed in range(num):
        spec = G.default_layout(seed)
        r = render(G, G.seed_ws(seed, 0.7), spec.to_batch() if spec is not None else None, taps=blocks)
        found = largest_object(seg, r.image.float().clamp(-1, 1))
        if found is not None:
            out.append((r.features, *found))
    return out


def largest_object(seg, image: torch.Tensor) -> tuple[np.ndarray, tuple[float, float]] | None:  # type: ignore[no-untyped-def]
    """The segmenter's largest object in `image` (1, 3, R, R) at its resolution, and the click at its middle; None
    when it finds no object."""
    small = F.interpolate(image, size=(seg.config.resolution,) * 2, mode="area")
    objects = components(seg.predict(small)[0][0].numpy(), 6)
    if not objects:
        return None
    obj = max((m for _, m in objects), key=lambda m: m.sum())
    return obj, middle_pixel(obj)  # type: ignore[return-value]


def sweep(model: Path, segmenter: Path, num: int, blocks: list[int], ks: list[int], ratios: list[float]) -> list[dict]:
    G = load(model)
    seg = load_segmenter(segmenter)
    data = pictures(G, seg, num, blocks)
    rows = []
    for block in blocks:
        for k in ks:
            clusters = fit_clusters(G, k=k, block=block)
            maps = [label_maps(clusters, feats[block])[0] for feats, _, _ in data]
            for ratio in ratios:
                background = clusters.border > ratio
                ious = []
                for labels, (_, obj, (x, y)) in zip(maps, data):
                    sel = Selection.empty(labels, background).object_at(x, y).at(obj.shape[0])
                    ious.append(float((sel & obj).sum() / (sel | obj).sum()))
                rows.append({"model": model.stem, "block": block, "clusters": k, "border_ratio": ratio,
                             "iou_median": statistics.median(ious), "iou_mean": statistics.fmean(ious),
                             "pictures": len(ious)})
                print(rows[-1], flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pairs", nargs="+", help="MODEL:SEGMENTER")
    ap.add_argument("--num", type=int, default=40)
    ap.add_argument("--blocks", default="16,32")
    ap.add_argument("--clusters", default="8,12,16")
    ap.add_argument("--ratios", default="1.0,0.5,0.3")
    args = ap.parse_args()
    mach = machine()
    blocks, ks = [int(v) for v in args.blocks.split(",")], [int(v) for v in args.clusters.split(",")]
    ratios = [float(v) for v in args.ratios.split(",")]
    rows = []
    for pair in args.pairs:
        model, segmenter = pair.split(":")
        rows += sweep(Path(model), Path(segmenter), args.num, blocks, ks, ratios)
    md = header("One click, one object: the selection against a segmenter", mach)
    md += [f"Defaults: block {CLUSTER_BLOCK} (or the finest below half the output), {NUM_CLUSTERS} clusters, border "
           f"ratio {OBJECT_BORDER}.", "",
           "| model | block | clusters | border ratio | IoU median (mean) | pictures |", "|---|---|---|---|---|---|"]
    md += [f"| {r['model']} | {r['block']} | {r['clusters']} | {r['border_ratio']} | {r['iou_median']:.3f} "
           f"({r['iou_mean']:.3f}) | {r['pictures']} |" for r in rows]
    write(ROOT / "bench" / "results" / "object_selection", "\n".join(md) + "\n", {"machine": mach, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
