"""Why does one seed steer and another not? For training runs of one recipe that differ in seed (and in variants:
`--const-input`, `--sel-gain`, `--no-align`, `--align-weight`), set their measured co-move ratio beside what else
can be measured of each model, and rank-correlate: how much dragging a centre of each heatmap level changes the
picture (`level_drags`, against a different latent), how closely D's GradCAM follows the heatmaps
(`heatmap_alignment`, matched minus shuffled correlation), and the training log's last losses. One mean row per
variant.

    python bench/seed_spread.py runs/table3_16/pets32_sel_norm_w4_s* runs/table3_16/pets32_sel_norm_s*_fp32 \
        --results bench/results/align_weight_pets32 bench/results/flat_const bench/results/bf16_pets32 \
        --out bench/results/align_weight_pets32/seed_spread.md --num 512

Each run's co-move and FID come from the `comove_*.json` and `fid_*.json` in the --results folders whose checkpoint
lies in that run folder. Writes --out and a .json beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from spatialgan.research import variant_of
from spatialgan.errors import SpatialGANError
from spatialgan.metrics.alignment import heatmap_alignment, load_run
from spatialgan.metrics.levels import level_drags
from spatialgan.metrics.report import command_line, header, machine, write

LOG_TAIL = 10  # log rows (of 10 steps each) averaged for "the last losses": the last 1.6 kimg at batch 16


def measured(folders: list[Path]) -> dict[Path, dict[str, float]]:
    """Run folder -> {'comove', 'median', 'fid'} from the JSONs that `spatialgan-metrics` wrote into `folders`."""
    out: dict[Path, dict[str, float]] = {}
    for kind in ("comove", "fid"):
        for f in sorted(p for folder in folders for p in folder.glob(f"{kind}_*.json")):
            d = json.loads(f.read_text())
            row = out.setdefault(Path(d["checkpoint"]).parent.resolve(), {})
            if kind == "comove":
                row.update(comove=d["ratio"], median=d["median"])
            else:
                row["fid"] = d["fid"]
    return out


def last_losses(run: Path) -> dict[str, float]:
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    tail = [r for r in rows if "loss_g" in r][-LOG_TAIL:]
    return {k: float(np.mean([r[k] for r in tail if r.get(k) is not None])) for k in ("loss_g", "loss_d", "align_l1")}


def describe(run: Path, num: int) -> dict[str, object]:
    """What can be measured of one run without its co-move: drags per level, GradCAM alignment, last losses."""
    G, D, cfg = load_run(run, torch.device("cpu"))
    v = variant_of(G)
    variant = (f"{v.const_input} input, SEL gain {v.sel_gain:g}, "
               + (f"L_align x{cfg.align_weight:g}" if cfg.align else "no L_align"))
    row: dict[str, object] = {"run": run.name, "seed": cfg.seed, "variant": variant}
    for d in level_drags(G, seeds=num // 4):
        row[f"drag_{d['resolution']}"] = d["near_change"] / d["other_latent"]
    for lv in heatmap_alignment(G, D, indoor=False, num=num).levels:
        row[f"cam_{lv.resolution}"] = lv.corr_matched - lv.corr_shuffled
    row.update(last_losses(run))
    if not cfg.align:
        del row["align_l1"]  # not computed in such a run (logged as 0)
    return row


def spearman(a: list[float], b: list[float]) -> float:
    ra, rb = (np.argsort(np.argsort(x)).astype(float) for x in (a, b))
    return float(np.corrcoef(ra, rb)[0, 1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="spatialgan-train run folders (they hold D)")
    ap.add_argument("--results", type=Path, nargs="+", required=True,
                    help="folders with the runs' comove_*.json and fid_*.json")
    ap.add_argument("--out", type=Path, required=True, help="markdown table to write (and a .json beside it)")
    ap.add_argument("--num", type=int, default=256, help="images for the alignment; a quarter as many drags")
    args = ap.parse_args(argv)
    known = measured(args.results)
    rows = []
    for run in args.runs:
        m = known.get(run.resolve())
        if not m or "comove" not in m:
            print(f"skipped {run}: no comove_*.json in --results names its checkpoint", file=sys.stderr)
            continue
        try:
            row = describe(run, args.num)
        except (SpatialGANError, OSError, KeyError) as exc:
            print(f"error: {run}: {exc}", file=sys.stderr)
            return 2
        row.update(m)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if len(rows) < 3:
        print("error: fewer than 3 runs with a measured co-move; nothing to correlate", file=sys.stderr)
        return 2
    rows.sort(key=lambda r: -float(r["comove"]))
    features = [k for k in rows[0] if k.startswith(("drag_", "cam_"))] + ["align_l1", "loss_g", "loss_d", "fid"]
    rho = {k: spearman([float(r["comove"]) for r in rows if k in r], [float(r[k]) for r in rows if k in r])
           for k in features}
    lines = header("Co-move across seeds, against what else is measured of each model", machine()) + [
        f"{len(rows)} runs. drag_R: mean |picture change| near a dragged centre of the R x R level "
        "(its sub-tree follows), over the change a different latent makes there. cam_R: correlation of D's GradCAM "
        "with the image's own heatmaps minus with another image's. Losses: mean of the log's last "
        f"{LOG_TAIL} rows. Sorted by co-move.", "",
        "| run | co-move (median) | " + " | ".join(features) + " |", "|---|---|" + "---|" * len(features)]
    for r in rows:
        lines.append(f"| {r['run']} | {r['comove']:.3f} ({r['median']:.3f}) | "
                     + " | ".join(f"{float(r[k]):.3f}" if k in r else "-" for k in features) + " |")
    for variant in sorted({str(r["variant"]) for r in rows}):
        group = [r for r in rows if r["variant"] == variant]
        means = [[float(r[k]) for r in group if k in r] for k in features]
        lines.append(f"| mean, {variant} ({len(group)} runs) | {np.mean([float(r['comove']) for r in group]):.3f} | "
                     + " | ".join(f"{np.mean(m):.3f}" if m else "-" for m in means) + " |")
    lines.append("| Spearman with co-move | | " + " | ".join(f"{rho[k]:+.2f}" for k in features) + " |")
    write(args.out, "\n".join(lines) + "\n",
          {"command": command_line(), "machine": machine(), "rows": rows, "spearman": rho})
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
