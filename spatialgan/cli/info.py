"""spatialgan-info: describe a checkpoint (architecture, heatmaps, training metadata) without loading weights."""

from __future__ import annotations

import argparse
import json

from ..checkpoint import read_info
from ..errors import SpatialGANError
from ..paths import list_checkpoints
from .common import run_cli


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="spatialgan-info", description=__doc__)
    ap.add_argument("checkpoints", nargs="*", help="checkpoint files (default: every bundled one)")
    ap.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = ap.parse_args(argv)

    def body() -> int:
        paths = args.checkpoints or list_checkpoints()
        if not paths:
            raise SpatialGANError("no checkpoints given and none bundled in checkpoints/")
        for path in paths:
            info = read_info(path)
            g = info.generator
            if args.json:
                print(json.dumps({"path": str(info.path), "generator": g.to_dict(), "meta": info.meta,
                                  "dtype": info.dtype, "variant": info.variant.to_dict()}))
                continue
            heat = ("no heatmaps (plain StyleGAN2)" if not g.uses_heatmaps else
                    f"{g.heatmap.mode} heatmaps at {list(g.heatmap.levels)}" +
                    (f", {g.heatmap.num_objects} objects" if g.heatmap.mode == "multi" else
                     f", centres {list(g.heatmap.centres_per_level)}"))
            variant = f" (experiment: {info.variant.describe()})" if not info.variant.is_default else ""
            print(f"{info.path}\n  {g.resolution} px, encoding {g.encoding}{variant}, {heat}\n"
                  f"  w_dim {g.w_dim}, {g.num_codes} code(s) x {g.num_ws} ws, weights {info.dtype}, "
                  f"discriminator {'yes' if info.discriminator else 'no'}")
            for k, v in info.meta.items():
                print(f"  {k}: {v}")
        return 0

    return run_cli(body)


if __name__ == "__main__":
    raise SystemExit(main())
