"""spatialgan-metrics: FID/KID of a generator, the co-move ratio (paper Table I) and the segmenter it needs, and how
closely a training run's discriminator attention follows the heatmaps (what L_align trains)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path


from ..errors import SpatialGANError
from ..fused import fuse
from ..cli.common import SEED, number, parsed, report, run_cli
from ..files import check_output, write_text_atomic

EPILOG = """examples:
  spatialgan-metrics fid checkpoints/pets128.safetensors --data pets --num 2000
  spatialgan-metrics comove checkpoints/rooms128.safetensors --segmenter checkpoints/seg_rooms32.safetensors
  spatialgan-metrics comove checkpoints/pets128.safetensors --num 300      # patch tracking, no segmenter
  spatialgan-metrics comove checkpoints/rooms64.safetensors --move-at 4,8  # do the 4 and 8 px blocks carry a move?
  spatialgan-metrics comove checkpoints/rooms64.safetensors --carry 16    # as the editor moves objects
  spatialgan-metrics align runs/rooms64 --num 256
  spatialgan-metrics align eqgan-sa-cat-snapshot.pkl --num 64     # a training snapshot that holds its D
  spatialgan-metrics train-seg --data rooms --resolution 32 --channels 8,16,32 --out checkpoints/seg_rooms32.safetensors --minutes 8
"""


COUNT = number(1, 10 ** 7, integer=True)
COUNT_BATCH = number(1, 4096, integer=True)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="spatialgan-metrics", description=__doc__, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    f = sub.add_parser("fid", help="FID and KID of a checkpoint against its dataset")
    f.add_argument("checkpoint")
    f.add_argument("--data", required=True, help="rooms, pets, or an image folder")
    f.add_argument("--num", type=COUNT, default=2000, help="generated images (default 2000)")
    f.add_argument("--num-real", type=COUNT, default=None, help="real images (default: --num)")
    f.add_argument("--batch", type=COUNT_BATCH, default=32)
    f.add_argument("--seed", type=SEED, default=0)
    f.add_argument("--cache", type=Path, default=None, help="reference statistics folder "
                   "(default ~/.cache/spatialgan/fid or $SPATIALGAN_CACHE)")

    c = sub.add_parser("comove", help="co-move ratio: does the object under a moved centre follow it (Table I)")
    c.add_argument("checkpoint")
    c.add_argument("--segmenter", type=Path, default=None,
                   help="segmenter weights (the paper's measure); without it the patch under the centre is tracked")
    c.add_argument("--num", type=COUNT, default=200, help="moves to try (default 200)")
    c.add_argument("--seed", type=SEED, default=0)
    c.add_argument("--batch", type=COUNT_BATCH, default=16)
    c.add_argument("--carry", type=number(4, 1024, integer=True), metavar="RES", default=None,
                   help="carry the moved object's look along after the synthesis block at this resolution, as the "
                        "editor does (e.g. 16); default: render the move plainly, as the paper measures it")
    c.add_argument("--move-at", metavar="RES,...",
                   help="diagnostic: give the moved heatmaps only to the synthesis blocks of these resolutions "
                        "(e.g. 4,8,16), the original ones to the rest, to see which layers carry a move")

    a = sub.add_parser("align", help="GradCAM of D vs the heatmaps, matched against shuffled (a run's snapshot)")
    a.add_argument("run", type=Path, help="a spatialgan-train run folder, or a network pickle with heatmaps and its "
                                          "D (an EqGAN-SA training snapshot); exported models hold no D")
    a.add_argument("--num", type=COUNT, default=256, help="generated images (default 256)")
    a.add_argument("--seed", type=SEED, default=0)
    a.add_argument("--batch", type=COUNT_BATCH, default=32)

    s = sub.add_parser("train-seg", help="train the tiny U-Net segmenter on procedural masks")
    s.add_argument("--data", default="rooms", choices=["rooms", "pets"])
    s.add_argument("--out", required=True, type=Path)
    s.add_argument("--resolution", type=number(16, 1024, integer=True), default=64)
    s.add_argument("--channels", default="12,24,48")
    s.add_argument("--num-train", type=COUNT, default=3000)
    s.add_argument("--num-test", type=COUNT, default=300)
    s.add_argument("--steps", type=COUNT, default=2000)
    s.add_argument("--minutes", type=number(0, 10 ** 6, lo_open=True), default=None, help="stop after this long (the scheduler still "
                   "plans --steps)")
    s.add_argument("--batch", type=COUNT_BATCH, default=16)
    s.add_argument("--seed", type=SEED, default=0)

    for q in (f, c, a, s):
        q.add_argument("--device", default="auto")
        q.add_argument("--no-progress", action="store_true")
        q.add_argument("--json", type=Path, default=None, help="also write the result here")
    return p


def _channels(text: str) -> tuple[int, ...]:
    """--channels: 1 to 6 widths, each 1..1024, separated by commas."""
    try:
        widths = tuple(int(c) for c in text.split(","))
    except ValueError:
        widths = ()
    if not 1 <= len(widths) <= 6 or any(not 1 <= w <= 1024 for w in widths):
        raise SpatialGANError(f"--channels takes 1 to 6 widths between 1 and 1024 separated by commas, e.g. "
                              f"12,24,48; got {text!r}")
    return widths


def _run(args: argparse.Namespace) -> dict[str, object]:
    from ..device import pick_device

    device = pick_device(args.device)
    progress = not args.no_progress
    if args.command == "train-seg":
        from ..data import PROCEDURAL
        from .segmentation import SegConfig, evaluate, procedural_set, save_segmenter, train_segmenter

        check_output(args.out, (".safetensors",), "--out")  # before training, not after it
        cfg = SegConfig(args.data, tuple(PROCEDURAL[args.data].CLASSES), args.resolution, _channels(args.channels))
        t0 = time.monotonic()
        net = train_segmenter(cfg, args.num_train, args.steps, args.batch, seed=args.seed, progress=progress,
                              max_seconds=args.minutes * 60 if args.minutes else None)
        train_s = time.monotonic() - t0
        test_x, test_y = procedural_set(args.data, args.resolution, args.num_train, args.num_test)
        acc = evaluate(net, test_x, test_y)
        info = {"command": "spatialgan-metrics " + shlex.join(args.argv), "train_seconds": round(train_s, 1),
                "held_out": {"first_index": args.num_train, "count": args.num_test,
                             "pixel_accuracy": round(acc.pixel_accuracy, 4), "mean_iou": round(acc.mean_iou, 4),
                             "per_class_iou": {k: round(v, 4) for k, v in acc.per_class_iou.items()}}}
        save_segmenter(net, args.out, info)
        return {"out": str(args.out), **info}

    if args.command == "align":
        from .alignment import alignable_levels, heatmap_alignment, load_run

        if args.run.is_file():  # a snapshot of another project's training: Eq. 4 and G's loss, as EqGAN-SA trains
            from ..loading import load, load_discriminator

            G = load(args.run, device, report)
            alignable_levels(G)  # before reading D: a model without heatmaps has nothing to align
            D, indoor, cam_score = load_discriminator(args.run, device), False, "g_loss"
        else:
            G, D, cfg = load_run(args.run, device)
            indoor, cam_score = cfg.align_indoor, cfg.cam_score
        res = heatmap_alignment(G, D, indoor, args.num, args.batch, args.seed, score=cam_score)
        if progress:
            for lv in res.levels:
                print(f"level {lv.resolution:>3}: |GradCAM - H| matched {lv.l1_matched:.4f} vs shuffled "
                      f"{lv.l1_shuffled:.4f}; correlation {lv.corr_matched:+.3f} vs {lv.corr_shuffled:+.3f}; "
                      f"flat maps {lv.flat:.0%}", file=sys.stderr)
        return {"run": str(args.run), **res.to_dict()}

    from ..loading import open_model

    G = fuse(open_model(args.checkpoint, None, device, report)[0].float())
    if args.command == "fid":
        from .fid import model_fid
        from .inception import InceptionFeatures

        res = model_fid(G, args.data, args.num, args.num_real, InceptionFeatures(device), seed=args.seed,
                        batch=args.batch, cache_dir=args.cache, progress=progress)
        return {"checkpoint": args.checkpoint, "data": args.data, **res.to_dict()}
    from .comove import co_move_ratio
    from .segmentation import load_segmenter

    seg = load_segmenter(args.segmenter, device) if args.segmenter is not None else None
    move_at = None
    if args.move_at is not None:
        try:
            move_at = [int(r) for r in args.move_at.split(",")]
        except ValueError:
            raise SpatialGANError(f"--move-at takes resolutions separated by commas, e.g. 4,8,16; got "
                                  f"{args.move_at!r}") from None
    blocks = G.synthesis.block_resolutions
    if args.carry is not None and args.carry not in blocks:
        raise SpatialGANError(f"--carry must name a synthesis block of this model, {blocks}; got {args.carry}")
    res = co_move_ratio(G, seg, args.num, seed=args.seed, batch=args.batch, progress=progress, move_at=move_at,
                        carry=args.carry)
    return {"checkpoint": args.checkpoint, **({"move_at": move_at} if move_at else {}),
            **({"carry": args.carry} if args.carry is not None else {}), **res.to_dict(per_move=True)}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parsed(lambda: build_parser().parse_args(argv))
    if isinstance(args, int):
        return args
    args.argv = argv  # recorded next to the segmenter weights: the command that made them
    def body() -> int:
        if getattr(args, "num", 2) < 2:
            raise SpatialGANError("--num must be at least 2")
        if args.json:
            check_output(args.json, (".json",), "--json")  # before hours of measuring, not after
        result = _run(args)
        # The per-move list goes to --json only: it is for paired comparisons, not for reading.
        print(json.dumps({k: v for k, v in result.items() if k != "per_move"}, indent=2))
        if args.json:
            write_text_atomic(args.json, json.dumps(result, indent=2) + "\n", (".json",), "--json")
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
