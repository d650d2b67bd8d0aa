"""Does the discriminator's GradCAM sharpen a clicked object's region? The object tool's selection
(`spatialgan.objects`) against the same selection corrected by where the discriminator looks, scored by the IoU with a
segmenter's object.

    python bench/object_gradcam.py runs/pets64-plain:checkpoints/seg_pets64.safetensors \\
        runs/rooms64-plain-r1:checkpoints/seg_rooms32.safetensors --num 200

Each RUN is a training run folder (exported models keep no discriminator): its EMA generator draws the pictures
(seeds 0..num-1, psi 0.7) and its discriminator gives GradCAM (`spatialgan.gradcam.attention_map` at its 4, 8 and
16 px activations, as the editor's overlay), resized to the cluster map. The click is the segmenter's largest
object's pixel nearest its centroid, as in bench/object_selection.py. The ways of using GradCAM compared:

- `trim τ`: the selection, less its cells where GradCAM is below τ;
- `attended clusters`: a cluster is part of objects where the picture's GradCAM over it is above the picture's mean
  (instead of the border rule);
- `both rules` / `either rule`: a cluster is part of objects where both rules, or either, say so.

Writes bench/results/object_gradcam.{md,json}.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from spatialgan.gradcam import attention_map
from spatialgan.metrics.alignment import load_run
from spatialgan.metrics.report import header, machine, write
from spatialgan.metrics.segmentation import load_segmenter
from spatialgan.objects import fit_clusters, label_maps
from spatialgan.objects.selection import Selection
from spatialgan.render import render

sys.path.insert(0, str(Path(__file__).resolve().parent))
from object_selection import largest_object  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TRIMS = (0.25, 0.5)
LEVELS = (4, 8, 16)  # D's activations GradCAM reads: the ones the heatmap models align with, as the editor's overlay


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def measure(run: Path, segmenter: Path, num: int) -> dict:
    G, D, _ = load_run(run, torch.device("cpu"))
    seg = load_segmenter(segmenter)
    clusters = fit_clusters(G)
    scores: dict[str, list[float]] = {}
    for seed in range(num):
        spec = G.default_layout(seed)
        with torch.no_grad():
            r = render(G, G.seed_ws(seed, 0.7), spec.to_batch() if spec is not None else None, taps=[clusters.block])
        image = r.image.float().clamp(-1, 1)
        found = largest_object(seg, image)
        if found is None:
            continue
        obj, (x, y) = found
        labels = label_maps(clusters, r.features[clusters.block])[0]
        size = labels.shape[-1]
        cam = F.interpolate(attention_map(D, image, LEVELS), size=(size, size), mode="area")[0, 0].numpy()
        lab = labels.cpu().numpy()
        border_bg = clusters.background.cpu().numpy()
        # the GradCAM rule: a cluster is part of objects where D looks at it more than at the picture on average
        k = len(border_bg)
        per_cluster = np.array([cam[lab == c].mean() if (lab == c).any() else 0.0 for c in range(k)])
        cam_bg = per_cluster <= cam.mean()

        def select(background: np.ndarray) -> np.ndarray:
            return Selection.empty(lab, background).object_at(x, y).mask

        base = select(border_bg)
        ways = {"selection (border rule)": base, "attended clusters": select(cam_bg),
                "both rules": select(border_bg | cam_bg), "either rule": select(border_bg & cam_bg)}
        ways.update({f"trim {t}": base & (cam >= t) for t in TRIMS})
        for name, mask in ways.items():
            scores.setdefault(name, []).append(iou(Selection(lab, border_bg, mask).at(obj.shape[0]), obj))
    rows = [{"model": run.name, "way": name, "iou_median": statistics.median(v), "iou_mean": statistics.fmean(v),
             "pictures": len(v)} for name, v in scores.items()]
    for row in rows:
        print(row, flush=True)
    return {"model": run.name, "discriminator_levels": list(LEVELS), "rows": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pairs", nargs="+", help="RUN:SEGMENTER (a training run folder, which keeps D)")
    ap.add_argument("--num", type=int, default=200)
    args = ap.parse_args()
    mach = machine()
    results = []
    for pair in args.pairs:
        run, segmenter = pair.split(":")
        results.append(measure(Path(run), Path(segmenter), args.num))
    md = header("Does GradCAM sharpen the clicked object?", mach)
    md += ["| model | way | IoU median (mean) | pictures |", "|---|---|---|---|"]
    md += [f"| {r['model']} | {r['way']} | {r['iou_median']:.3f} ({r['iou_mean']:.3f}) | {r['pictures']} |"
           for res in results for r in res["rows"]]
    write(ROOT / "bench" / "results" / "object_gradcam", "\n".join(md) + "\n", {"machine": mach, "models": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
