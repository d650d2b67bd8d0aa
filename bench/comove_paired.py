"""Compare two co-move measurements move by move (a paired comparison).

`spatialgan-metrics comove CKPT --json FILE` keeps every move's ratio. Two models measured with the same
--seed and --num see the same latents, heatmaps and moves, so the difference per move removes most of the
spread between moves: its standard error is far smaller than that of either mean.

    python bench/comove_paired.py A.json B.json
    python bench/comove_paired.py --table 0=A0.json,B0.json 1=A1.json,B1.json ...

`--table` prints a markdown table of one pair per row (LABEL, typically the seed), with each file's ratio and
median, the paired difference and, where a `fid_*.json` lies beside a `comove_*.json`, both FIDs; its last row
averages over the rows, with the standard error of the rows' differences.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np


def paired(a: dict, b: dict) -> dict:
    if len(a["per_move"]) != len(b["per_move"]):
        raise SystemExit("the two files measured different numbers of moves; use the same --num and --seed")
    pairs = np.array([(x, y) for x, y in zip(a["per_move"], b["per_move"]) if x is not None and y is not None])
    d = pairs[:, 1] - pairs[:, 0]
    return {"moves": len(d), "mean_a": float(pairs[:, 0].mean()), "mean_b": float(pairs[:, 1].mean()),
            "diff": float(d.mean()), "diff_se": float(d.std(ddof=1) / math.sqrt(len(d))),
            "b_higher": float((d > 0).mean()), "b_lower": float((d < 0).mean())}


def _fid(comove: Path) -> float | None:
    fid = comove.with_name(comove.name.replace("comove_", "fid_", 1))
    return json.loads(fid.read_text())["fid"] if fid != comove and fid.exists() else None


def table(specs: list[str]) -> list[str]:
    """Markdown rows for `LABEL=A.json,B.json` specs (see the module docstring)."""
    lines = ["| seed | A: co-move (median) | B: co-move (median) | paired difference | FID, A / B |",
             "|---|---|---|---|---|"]
    diffs, means, fids = [], [], []
    for spec in specs:
        label, _, files = spec.partition("=")
        paths = [Path(f) for f in files.split(",")]
        if len(paths) != 2:
            raise SystemExit(f"--table wants LABEL=A.json,B.json, got {spec!r}")
        a, b = (json.loads(p.read_text()) for p in paths)
        r, fid = paired(a, b), [_fid(p) for p in paths]
        diffs.append(r["diff"])
        means.append((a["ratio"], b["ratio"]))
        fids.append(fid)
        fid_text = " / ".join("-" if f is None else f"{f:.1f}" for f in fid)
        lines.append(f"| {label} | {a['ratio']:.3f} ({a['median']:.3f}) | {b['ratio']:.3f} ({b['median']:.3f}) "
                     f"| {r['diff']:+.3f} ± {r['diff_se']:.3f} | {fid_text} |")
    if len(specs) > 1:
        mean_fid = [np.mean([f[i] for f in fids]) if all(f[i] is not None for f in fids) else None for i in (0, 1)]
        fid_text = " / ".join("-" if f is None else f"{f:.1f}" for f in mean_fid)
        lines.append(f"| mean | {np.mean([m[0] for m in means]):.3f} | {np.mean([m[1] for m in means]):.3f} "
                     f"| {np.mean(diffs):+.3f} ± {np.std(diffs, ddof=1) / math.sqrt(len(diffs)):.3f} over the rows "
                     f"| {fid_text} |")
    return lines


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--table":
        print("\n".join(table(sys.argv[2:])))
        return 0
    if len(sys.argv) != 3:
        usage = next(b for b in __doc__.split("\n\n") if b.lstrip().startswith("python"))
        print("usage:\n" + usage, file=sys.stderr)
        return 2
    a, b = (json.loads(Path(p).read_text()) for p in sys.argv[1:])
    r = paired(a, b)
    print(f"{sys.argv[1]} -> {sys.argv[2]}: {r['moves']} moves measured in both; mean {r['mean_a']:.3f} -> "
          f"{r['mean_b']:.3f}, difference {r['diff']:+.3f} ± {r['diff_se']:.3f} (standard error); B higher in "
          f"{r['b_higher']:.0%} of moves, lower in {r['b_lower']:.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
