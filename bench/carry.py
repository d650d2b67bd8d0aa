"""Does carrying an object's look along (`spatialgan.carry`, the editor's default) make moved objects follow their
centres? For each model, the co-move measure's moves rendered plainly (the paper's way) and carried after the
synthesis block at each `--at` resolution, paired move by move: patch co-move (and the segmented one with
`--segmenter`), then the move locality and carry error of `bench/move_locality.py` for the same moves.

    python bench/carry.py checkpoints/{rooms64,pets64,rooms128,pets128}.safetensors --num 300 \\
        --segmenter checkpoints/seg_rooms32.safetensors

The segmented co-move (paper Table I) is measured for multi-object models only: the segmenter knows rooms.
Writes bench/results/carry.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from spatialgan import load_checkpoint
from spatialgan.errors import SpatialGANError
from spatialgan.fused import fuse
from spatialgan.metrics.comove import co_move_ratio
from spatialgan.metrics.report import command_line, header, machine, write
from spatialgan.metrics.segmentation import load_segmenter

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from comove_paired import paired  # noqa: E402  (sibling scripts)
from move_locality import move_locality  # noqa: E402


def measure(path: Path, at: list[int], num: int, seed: int, seg_path: Path | None) -> list[dict]:
    G = fuse(load_checkpoint(path, torch.device("cpu")).generator)
    seg = load_segmenter(seg_path, torch.device("cpu")) if seg_path is not None and G.config.heatmap.mode == "multi" \
        else None
    rows = []
    plain: dict[str, dict] = {}
    for carry in [None, *at]:
        row: dict = {"checkpoint": str(path), "carry": carry}
        for method, s in (("patch", None), ("segment", seg)):
            if method == "segment" and s is None:
                continue
            r = co_move_ratio(G, s, num, seed=seed, progress=False, carry=carry).to_dict(per_move=True)
            if carry is None:
                plain[method] = r
            row[method] = {k: r[k] for k in ("ratio", "median", "measured", "attempted")}
            row[method]["paired"] = paired(plain[method], r) if carry is not None else None
        row["locality"] = move_locality(G, min(num, 200), seed, carry=carry)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def _cell(m: dict | None) -> str:
    if m is None:
        return "-"
    text = f"{m['ratio']:.3f} ({m['median']:.3f})"
    p = m.get("paired")
    return text if p is None else f"{text}, {p['diff']:+.3f} ± {p['diff_se']:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--at", default="8,16", help="carry resolutions to compare with the plain render (default 8,16)")
    ap.add_argument("--num", type=int, default=300, help="moves per model (default 300; locality uses up to 200)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--segmenter", type=Path, default=None, help="also the segmented co-move of multi-object models")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "carry.md")
    args = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    torch.manual_seed(0)
    rows = []
    try:
        at = [int(r) for r in args.at.split(",")]
        for path in args.checkpoints:
            rows += measure(path, at, args.num, args.seed, args.segmenter)
    except ValueError as exc:
        print(f"error: --at takes resolutions separated by commas, e.g. 8,16 ({exc})", file=sys.stderr)
        return 2
    except (SpatialGANError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lines = header("Carrying an object's look along a heatmap move", machine()) + [
        f"The co-move measure's moves (seed {args.seed}, {args.num} per model: a random object, or the root with its "
        "sub-tree, moved by 0.08-0.2 of the image), rendered plainly and carried after the block at each "
        "resolution (`spatialgan.carry`, window 2 object sigmas). Co-move: mean (median), and the paired "
        "difference from the plain render on the same moves (± one standard error). Locality and carry error as in "
        "[move_locality.md](move_locality.md), on the first 200 of the same moves: near / far change, and the carry "
        "error of the moved image against the unmoved one (0 is a perfect carry, 1 no carry).", "",
        "| model | carry after | patch co-move | segmented co-move | near / far change | carry error, moved / "
        "unmoved |", "|---|---|---|---|---|---|"]
    for r in rows:
        loc = r["locality"]
        lines.append(
            f"| {Path(r['checkpoint']).stem} | {'plain' if r['carry'] is None else str(r['carry']) + ' px'} "
            f"| {_cell(r['patch'])} | {_cell(r.get('segment'))} | {loc['near_change']:.3f} / {loc['far_change']:.3f} "
            f"| {loc['carry_error']:.3f} / {loc['carry_error_unmoved']:.3f} "
            f"({loc['carry_error'] / loc['carry_error_unmoved']:.2f}) |")
    write(args.out, "\n".join(lines) + "\n", {"command": command_line(), "machine": machine(), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
