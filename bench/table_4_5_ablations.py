"""Paper Tables IV and V on our pets data (the LSUN Cat stand-in): FID of heatmap-sampling and encoding ablations,
every row trained with the same seed, budget and architecture as bench/table_3_fid.py's pets rows.

  Table IV  baseline | Gaussian noise maps | Non-Hie (levels drawn independently) | hierarchical (the paper's)
  Table V   baseline | SEL_concat | SEL_norm            (the paper's "Flatten" row is not built)
  Steering  patch co-move of every row with heatmaps, plus SEL_norm without L_align: how far L_align is what
            makes the pet follow its heatmap (the paper's Table I asks this of bedrooms); the GradCAM score; and
            SpatialGAN with channels up to 256 instead of 64 at 4-16 px, where the heatmaps enter

The baseline and hierarchical SEL_norm rows are the runs Table III trains; point --runs at the same folder to
reuse them (a reused run must have been trained with exactly these settings, which is checked).

    python bench/table_4_5_ablations.py --kimg 16 --resolution 32 --num 500 --moves 300 --runs runs/table3_16
writes bench/results/table_4_5_ablations.{md,json}.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from table_3_fid import BASELINE, FID_CAVEAT, budget_options, fid_rows, header, train_flags

from spatialgan import load_checkpoint, pick_device
from spatialgan.fused import fuse
from spatialgan.metrics import InceptionFeatures, co_move_ratio
from spatialgan.metrics.report import command_line, machine, train_run, write

ROOT = Path(__file__).resolve().parents[1]
HIER = ["--encoding", "sel_norm", "--heatmap-mode", "hierarchical"]
# name -> (label, flags). Run folders are pets{res}_{flags[1]} for the rows Table III shares, so both reuse them.
ROWS = {
    "baseline": ("StyleGAN2 baseline", BASELINE),
    "noise": ("Gaussian noise maps (SEL_norm, no L_align)", ["--encoding", "sel_norm", "--heatmap-mode", "hierarchical",
                                                             "--heatmap-sampling", "noise", "--no-align"]),
    "nonhier": ("Non-Hie: independent levels (SEL_norm + L_align)", [*HIER, "--heatmap-sampling", "independent"]),
    "sel_concat": ("SEL_concat, hierarchical (+ L_align)", ["--encoding", "sel_concat", "--heatmap-mode", "hierarchical"]),
    "no_align": ("SEL_norm, hierarchical, no L_align", [*HIER, "--no-align"]),
    "logit": ("SEL_norm, hierarchical (+ L_align on the GradCAM of D(x), paper Sec. 3.1)", [*HIER, "--cam-score", "logit"]),
    "hier": ("SEL_norm, hierarchical (+ L_align): SpatialGAN", HIER),
    "wide": ("SpatialGAN with channels up to 256 (4x wider at 4-8 px, 2x at 16 px)", [*HIER, "--channel-max", "256"]),
}
RUN_NAMES = {"baseline": "none", "hier": "sel_norm", "noise": "noise", "nonhier": "nonhier", "sel_concat": "sel_concat",
             "no_align": "sel_norm_noalign", "logit": "sel_norm_logit", "wide": "sel_norm_wide"}
TABLES = {4: (["baseline", "noise", "nonhier", "hier"], "Baseline 8.36, Gau. Noise 8.33, Non-Hie 7.03, Hie 6.57"),
          5: (["baseline", "sel_concat", "hier"], "Baseline 8.36, Flatten 8.52, SEL_concat 6.73, SEL_norm 6.57")}
STEERING = ["noise", "nonhier", "sel_concat", "no_align", "hier", "logit", "wide"]  # the rows with heatmaps to move
STEERING_ONLY = ("no_align", "logit", "wide")  # trained for the steering table even when no FID table asks for them


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tables", type=int, nargs="+", default=[4, 5], choices=[4, 5])
    ap.add_argument("--num", type=int, default=500, help="generated (and real) images per FID")
    ap.add_argument("--cache", type=Path, default=None, help="reference statistics folder")
    ap.add_argument("--moves", type=int, default=300, help="patch co-move draws per row (0: no steering table)")
    budget_options(ap, 16.0, ROOT / "runs" / "table3_16", Path(__file__).parent / "results" / "table_4_5_ablations")
    args = ap.parse_args()
    device = pick_device(args.device)
    names = list(dict.fromkeys(n for t in args.tables for n in TABLES[t][0]))
    steering = [n for n in STEERING if n in names or n in STEERING_ONLY] if args.moves else []
    names += [n for n in steering if n not in names]
    targets = []
    for name in names:
        label, flags = ROWS[name]
        all_flags = train_flags("pets", args.resolution, args.kimg, device, flags)
        run = args.runs / f"pets{args.resolution}_{RUN_NAMES[name]}"
        ckpt, secs = train_run(run, all_flags)
        targets.append(("pets", label, ckpt, {"row": name, "train_flags": all_flags, "train_seconds_here": round(secs)}))
    rows = fid_rows(targets, args.num, InceptionFeatures(device), args.cache, device)
    by_name = {r["row"]: r for r in rows}
    for name in steering:  # same draws (seed 0) for every row
        G = fuse(load_checkpoint(by_name[name]["checkpoint"], device).generator.float())
        by_name[name]["patch_comove"] = co_move_ratio(G, None, args.moves, seed=0).to_dict()
        print(name, json.dumps(by_name[name]["patch_comove"]), flush=True)
    mach = machine()
    lines = header("Tables IV and V analogues: heatmap sampling and spatial encoding ablations (pets)", mach)
    lines += [f"Budget of every row: {args.kimg} kimg at {args.resolution} px, batch 16, seed 0, small architecture "
              f"(bench/table_3_fid.py's SMALL_ARCH). N fake / real = {args.num} / {args.num}.", ""]
    for t in args.tables:
        keys, paper = TABLES[t]
        title = "IV: heatmap sampling" if t == 4 else "V: spatial encoding"
        lines += [f"## Table {title}", "", f"Paper (LSUN Cat, 256 px, 50k, FID): {paper}.", "",
                  "| row | FID | KID x10^3 |", "|---|---|---|"]
        lines += [f"| {by_name[k]['label']} | {by_name[k]['fid']:.2f} | {1e3 * by_name[k]['kid']:.2f} |" for k in keys]
        lines.append("")
    if steering:
        lines += ["## Steering: does the pet follow its heatmap?", "",
                  f"Patch co-move over {args.moves} moves (the same draws for every row): the root centre and its "
                  "subtree moved by |p| ~ U(0.08, 0.2) image units, q from tracking the patch under the centre, ratio "
                  "= (p . q) / |p|^2 (1: the content under the centre moves with it; 0: it stays). Not the paper's "
                  "segmenter-based measure (bench/table_1_comove.py); the noise row, whose maps carry no "
                  "position, is the floor.", "",
                  "| row | FID | patch co-move (mean ± std) | median |", "|---|---|---|---|"]
        for k in steering:
            cm = by_name[k]["patch_comove"]
            lines.append(f"| {by_name[k]['label']} | {by_name[k]['fid']:.2f} | {cm['ratio']:.3f} ± "
                         f"{cm['ratio_std']:.3f} | {cm['median']:.3f} |")
        lines.append("")
    lines += [FID_CAVEAT, ""]
    write(args.out, "\n".join(lines), {"command": command_line(), "machine": mach, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
