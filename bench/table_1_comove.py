"""Paper Table I on our rooms data: co-move ratio of a heatmap centre and the object under it.

Rows (paper, LSUN Bedroom: 0.32 / 0.41 / 0.62 / 0.69):
  conference   hierarchical sampling, SEL_norm, L_align (the EqGAN-SA setting)
  multi        + multi-object sampling (SEL_norm, L_align against the sum of the object heatmaps, Eq. 4)
  sel_indoor   + SEL_indoor (still Eq. 4's sum target)
  full         + L_align_indoor (Eq. 5: the minimum over single objects and their sum)
  no_align     SEL_indoor with no alignment at all (not in the paper: what L_align adds)
`--bundled` measures checkpoints/rooms128.safetensors (the "full" setting, trained on a GPU). `--train ROW ...`
trains those rows at an equal, small budget with spatialgan-train first (or reuses finished runs in --runs).

    python bench/table_1_comove.py --bundled --segmenter checkpoints/seg_rooms32.safetensors --num 200
    python bench/table_1_comove.py --train conference multi sel_indoor full --kimg 2 --resolution 32
writes bench/results/table_1_comove.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from table_3_fid import budget_options, train_flags

from spatialgan import load_checkpoint, pick_device
from spatialgan.errors import SpatialGANError
from spatialgan.fused import fuse
from spatialgan.metrics import co_move_ratio, load_segmenter
from spatialgan.metrics.alignment import heatmap_alignment, load_run
from spatialgan.metrics.report import command_line, machine, train_run, write

ROOT = Path(__file__).resolve().parents[1]
ROWS = {
    "conference": ("hierarchical sampling (conference)", ["--encoding", "sel_norm", "--heatmap-mode", "hierarchical"]),
    "multi": ("+ multi-object sampling", ["--encoding", "sel_norm", "--heatmap-mode", "multi", "--align-target", "sum"]),
    "sel_indoor": ("+ SEL_indoor", ["--encoding", "sel_indoor", "--align-target", "sum"]),
    "full": ("+ L_align_indoor", ["--encoding", "sel_indoor", "--align-target", "indoor"]),
    # Not a paper row: the full architecture without any alignment, to see what L_align itself adds.
    "no_align": ("SEL_indoor without L_align (contrast)", ["--encoding", "sel_indoor", "--no-align"]),
}
PAPER = {"conference": 0.32, "multi": 0.41, "sel_indoor": 0.62, "full": 0.69, "no_align": "-"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundled", action="store_true", help="measure checkpoints/rooms128.safetensors")
    ap.add_argument("--train", nargs="*", default=[], choices=list(ROWS), help="rows to train and measure")
    ap.add_argument("--segmenter", type=Path, default=ROOT / "checkpoints" / "seg_rooms32.safetensors")
    ap.add_argument("--num", type=int, default=200, help="moves per row")
    budget_options(ap, 2.0, ROOT / "runs" / "table1", Path(__file__).parent / "results" / "table_1_comove")
    args = ap.parse_args()
    if not args.bundled and not args.train:
        ap.error("nothing to do: pass --bundled and/or --train ROW ...")
    device = pick_device(args.device)
    seg = load_segmenter(args.segmenter, device)
    seg_info = json.loads(args.segmenter.with_suffix(".json").read_text())
    rows = []
    targets: list[tuple[str, str, Path, dict]] = []
    if args.bundled:
        targets.append(("full", "bundled rooms128 (multi + SEL_indoor + L_align_indoor, 128 px, ~300 kimg on "
                        "an H100)", ROOT / "checkpoints" / "rooms128.safetensors", {"budget": "see checkpoints/rooms128.md"}))
    for name in args.train:
        flags = train_flags("rooms", args.resolution, args.kimg, device, ROWS[name][1])
        run = args.runs / name
        ckpt, secs = train_run(run, flags)
        targets.append((name, ROWS[name][0] + f" ({args.resolution} px, {args.kimg} kimg)", ckpt,
                        {"budget": f"{args.kimg} kimg at {args.resolution} px, batch 16, seed 0, small arch",
                         "train_flags": flags, "train_seconds_here": round(secs)}))
    for key, label, ckpt, extra in targets:
        G = fuse(load_checkpoint(ckpt, device).generator.float())
        t0 = time.monotonic()
        try:
            res = co_move_ratio(G, seg, args.num, seed=0).to_dict()
        except SpatialGANError as exc:  # e.g. an early model whose images the segmenter reads as all background
            print(f"{key}: {exc}", flush=True)
            res = {"ratio": None, "measured": 0, "attempted": args.num, "why_not": str(exc)}
        patch = co_move_ratio(G, None, args.num, seed=0).to_dict()  # same draws, tracked without a segmenter
        row = {"row": key, "label": label, "checkpoint": str(ckpt), "paper": PAPER[key], **res,
               "patch": patch, "seconds": round(time.monotonic() - t0, 1), **extra}
        if (ckpt.parent / "snapshot.safetensors").is_file():  # trained here: D is at hand, so measure what L_align trains
            Gs, D, cfg = load_run(ckpt.parent, device)
            row["alignment"] = heatmap_alignment(Gs, D, cfg.align_indoor, num=256, score=cfg.cam_score).to_dict()
        rows.append(row)
        print(json.dumps(rows[-1]), flush=True)
    mach = machine()
    held = seg_info.get("held_out", {})
    lines = ["# Table I analogue: co-move ratio on procedural rooms", "",
             f"Command: `{command_line()}`", "",
             f"Machine: {mach['cpu_model']} ({mach['cpu_count']} CPUs, GPU: {mach.get('gpu', 'none')}), torch "
             f"{mach['torch']}, load average {mach['load_average']} (a shared machine).", "",
             f"Segmenter (our Mask R-CNN stand-in): `{args.segmenter.name}`, a tiny U-Net at "
             f"{seg.config.resolution} px; on {held.get('count')} held-out procedural rooms: pixel accuracy "
             f"{held.get('pixel_accuracy')}, mIoU {held.get('mean_iou')}.", "",
             "Each move: a random sub-heatmap centre (multi-object models) or the root with all its descendants "
             "(hierarchical models, as the editor drags it) moved by |p| ~ U(0.08, 0.2) image units in a random "
             "direction; "
             "ratio = (p . q) / |p|^2 where q is the matched object's centroid displacement. 'measured' counts moves "
             "whose centre lay on a segmented object that was found again.", "",
             "Patch co-move: the same draws, with q from tracking the patch under the centre (half-width 0.08 image "
             "units, best sum-of-squared-differences match within 0.25) instead of a segmented object. Not the "
             "paper's measure, but it needs no recognisable objects; 'tracked' counts patches with texture.", "",
             "| setting | budget | co-move ratio (mean ± std) | median | measured / tried | patch co-move (mean ± std) "
             "| tracked / tried | GradCAM-heatmap correlation, matched / shuffled | paper (LSUN Bedroom) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        corr = "-"
        if "alignment" in r:  # the mean over levels: how far D's attention follows this image's own heatmaps
            lv = r["alignment"]["levels"]
            corr = (f"{sum(x['corr_matched'] for x in lv) / len(lv):+.3f} / "
                    f"{sum(x['corr_shuffled'] for x in lv) / len(lv):+.3f}")
        seg_cols = "n/a | n/a" if r["ratio"] is None else f"{r['ratio']:.3f} ± {r['ratio_std']:.3f} | {r['median']:.3f}"
        pt = r["patch"]
        lines.append(f"| {r['label']} | {r['budget']} | {seg_cols} | {r['measured']} / {r['attempted']} "
                     f"| {pt['ratio']:.3f} ± {pt['ratio_std']:.3f} | {pt['measured']} / {pt['attempted']} | {corr} "
                     f"| {r['paper']} |")
    lines += ["", "GradCAM-heatmap correlation (`spatialgan-metrics align`): the Pearson correlation between D's GradCAM "
              "and the heatmaps at levels 4/8/16 over 256 samples, averaged over the levels, for each image's own "
              "heatmaps and for another image's. The gap is what L_align has achieved; it needs the run's D, so the "
              "bundled model has none."]
    trained = list(args.train)
    missing = [k for k in ROWS if k not in trained]
    lines += ["", f"Rows trained here: {', '.join(trained) or 'none'}."
              + (f" Not run: {', '.join(missing)}." if missing else ""), ""]
    write(args.out, "\n".join(lines), {"command": command_line(), "machine": mach, "segmenter": seg_info, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
