"""spatialgan-info: describe a model (architecture, heatmaps, training metadata): our checkpoints without loading
their weights, imported models and network pickles (read safely, never run)."""

from __future__ import annotations

import argparse
import dataclasses
import json

from ..checkpoint import read_info
from ..importers import is_imported
from ..loading import PICKLE_SUFFIXES, TORCH_SUFFIXES, load
from ..errors import SpatialGANError
from ..paths import list_checkpoints
from .common import parsed, report, run_cli


def describe_imported(path: str, as_json: bool) -> None:
    """A network pickle (imported, or from the import cache) or our file of an imported model."""
    model = load(path, progress=report)
    caps = model.capabilities
    card = {"path": str(path), "description": caps.description, "resolution": caps.resolution,
            "z_dim": getattr(model, "z_dim", None), "w_dim": getattr(model, "w_dim", None), "num_ws": caps.num_ws,
            "labels": list(caps.class_labels), "heatmaps": caps.layout,
            "config": dataclasses.asdict(model.config) if dataclasses.is_dataclass(model.config) else None}
    if as_json:
        print(json.dumps(card))
        return
    print(f"{path}\n  {caps.description}\n  z_dim {card['z_dim']}, w_dim {card['w_dim']}, {caps.num_ws} ws, "
          f"{len(caps.class_labels) or 'no'} class labels, {'no heatmaps' if caps.layout is None else caps.layout}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="spatialgan-info", description=__doc__)
    ap.add_argument("checkpoints", nargs="*", help="checkpoint files (default: every bundled one)")
    ap.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = parsed(lambda: ap.parse_args(argv))
    if isinstance(args, int):
        return args

    def body() -> int:
        paths = args.checkpoints or list_checkpoints()
        if not paths:
            raise SpatialGANError("no checkpoints given and none bundled in checkpoints/")
        for path in paths:
            if str(path).lower().endswith(PICKLE_SUFFIXES + TORCH_SUFFIXES) or is_imported(path):
                describe_imported(path, args.json)
                continue
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
