"""Compare two co-move measurements move by move (a paired comparison).

`spatialgan-metrics comove CKPT --json FILE` keeps every move's ratio. Two models measured with the same
--seed and --num see the same latents, heatmaps and moves, so the difference per move removes most of the
spread between moves: its standard error is far smaller than that of either mean.

    python bench/comove_paired.py A.json B.json
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


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    a, b = (json.loads(Path(p).read_text()) for p in sys.argv[1:])
    r = paired(a, b)
    print(f"{sys.argv[1]} -> {sys.argv[2]}: {r['moves']} moves measured in both; mean {r['mean_a']:.3f} -> "
          f"{r['mean_b']:.3f}, difference {r['diff']:+.3f} ± {r['diff_se']:.3f} (standard error); B higher in "
          f"{r['b_higher']:.0%} of moves, lower in {r['b_lower']:.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
