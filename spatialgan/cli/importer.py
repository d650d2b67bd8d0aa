"""spatialgan-import: turn a network pickle (StyleGAN2-ADA and DragGAN's StyleGAN2 models, EqGAN-SA, StyleGAN3) or
a rosinality stylegan2-pytorch checkpoint into this project's safetensors format, with a model card and, where the
file is a training snapshot, its discriminator. The file is read as data: nothing in it is run.

    spatialgan-import network-snapshot.pkl --out model.safetensors
    spatialgan-import stylegan2-ffhq-config-f.pt
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..errors import SpatialGANError
from ..importers import (NoDiscriminator, import_discriminator, import_pickle, import_rosinality, model_card,
                         save_imported, sha256_of)
from ..importers.rosinality import SUFFIXES as TORCH_SUFFIXES
from .common import parsed, report, run_cli
from ..files import check_output


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="spatialgan-import", description=__doc__.split("\n\n")[0])
    ap.add_argument("pickle", type=Path, help="a network pickle (.pkl) with G_ema (or G), or a rosinality checkpoint "
                                              "(.pt) with g_ema (or g)")
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
        rosinality = args.pickle.suffix.lower() in TORCH_SUFFIXES
        model = import_rosinality(args.pickle) if rosinality else import_pickle(args.pickle, report)
        try:
            D = import_discriminator(args.pickle)
        except NoDiscriminator:
            D = None  # a generator-only export: the model opens, GradCAM is not offered
        card = {**model_card(args.pickle, model, sha256_of(args.pickle)), "discriminator": D is not None}
        save_imported(out, model, card, D=D)
        print(json.dumps(card, indent=2))
        print(f"imported in {time.perf_counter() - t0:.1f} s -> {out}")
        return 0

    return run_cli(body)


if __name__ == "__main__":
    raise SystemExit(main())
