"""spatialgan-import: turn a network pickle (stylegan2-ada-pytorch, and DragGAN's StyleGAN2 models) into this
project's safetensors format, with a model card. The pickle is read as data: nothing in it is run.

    spatialgan-import network-snapshot.pkl --out model.safetensors
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..errors import SpatialGANError
from ..importers import import_pickle, model_card, save_imported, sha256_of
from .common import parsed, report, run_cli
from ..files import check_output


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="spatialgan-import", description=__doc__.split("\n\n")[0])
    ap.add_argument("pickle", type=Path, help="a network pickle (.pkl) with G_ema (or G)")
    ap.add_argument("--out", "-o", type=Path, help="the model file to write (default: the pickle's name, "
                                                   ".safetensors)")
    args = parsed(lambda: ap.parse_args(argv))
    if isinstance(args, int):
        return args

    def body() -> int:
        out = args.out or args.pickle.with_suffix(".safetensors")
        if out.resolve() == args.pickle.resolve():
            raise SpatialGANError("--out must differ from the pickle")
        check_output(out, (".safetensors",), "--out")  # before the import, not after it
        t0 = time.perf_counter()
        model = import_pickle(args.pickle, report)
        card = model_card(args.pickle, model, sha256_of(args.pickle))
        save_imported(out, model, card)
        print(json.dumps(card, indent=2))
        print(f"imported in {time.perf_counter() - t0:.1f} s -> {out}")
        return 0

    return run_cli(body)


if __name__ == "__main__":
    raise SystemExit(main())
