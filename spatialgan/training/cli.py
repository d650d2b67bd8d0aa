"""spatialgan-train: train SpatialGAN (or the plain StyleGAN2 baseline) and export the EMA generator.

    spatialgan-train new runs/rooms64 --data rooms --encoding sel_indoor --kimg 200
    spatialgan-train resume runs/rooms64 --kimg 400            # continue, possibly further
    spatialgan-train export runs/rooms64 checkpoints/rooms64.safetensors --half
    spatialgan-train branch runs/rooms64 runs/rooms64_w4 --align-weight 4     # fine-tune with another recipe
    torchrun --nproc_per_node 4 -m spatialgan.training.cli new runs/pets128 --data pets ...

The flag form of earlier versions (--out RUN, --resume RUN, --branch RUN --out NEW, --resume RUN --export FILE)
still works.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import shlex
import shutil
import sys
from pathlib import Path

import torch

from ..checkpoint import load_checkpoint, save_checkpoint
from ..cli.common import parsed, run_cli
from ..config import ENCODINGS
from ..device import describe, native_bfloat16, pick_device
from ..files import check_output_folder, make_folder
from ..errors import SpatialGANError
from ..gradcam import CAM_SCORES
from ..research import CONST_INPUTS, HEATMAP_SAMPLINGS, build as build_generator
from .config import TrainConfig
from .distributed import init_from_env
from .loop import AMP_DEVICES, CONFIG, MODEL, SNAPSHOT, Trainer, TrainingStopped
from .snapshot import CONST, reshape_const

FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}
# What a resumed run may change: how long, how often, and the speed setting --amp.
CHANGEABLE = {"total_kimg", "snapshot_kimg", "sample_kimg", "workers", "log_steps", "amp"}
# What a branch may change on top: the loss recipe, the random draws and the 4x4 input's shape (its snapshot is
# reshaped, see snapshot.reshape_const). The rest of the architecture, data, batch and the optimiser's settings
# stay, since the branch continues its parent's networks and Adam state.
BRANCHABLE = CHANGEABLE | {"align", "align_target", "align_weight", "cam_score", "align_tau", "r1_gamma",
                           "style_mixing", "seed", "move_weight", "move_batch", "const_input"}


COMMANDS = ("new", "resume", "branch", "export")


def _add_settings(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar (logs still go to log.jsonl)")
    g = ap.add_argument_group("settings (saved with the run; defaults follow the paper / StyleGAN2)")
    g.add_argument("--data", help="rooms, pets, or a folder / .zip of images (default rooms)")
    g.add_argument("--resolution", type=int, help="image size, a power of two (default 64)")
    g.add_argument("--encoding", choices=ENCODINGS, help="spatial encoding; none = plain StyleGAN2 baseline")
    g.add_argument("--heatmap-mode", choices=("hierarchical", "multi"), help="default: multi for sel_indoor")
    g.add_argument("--no-align", dest="align", action="store_false", default=None, help="train without L_align")
    g.add_argument("--align-weight", type=float)
    g.add_argument("--align-target", choices=("auto", "sum", "indoor"),
                   help="alignment target: sum of heatmaps (Eq. 4), min over objects (Eq. 5); auto: Eq. 5 for multi")
    g.add_argument("--cam-score", choices=CAM_SCORES,
                   help="what L_align's GradCAM differentiates: g_loss = softplus(-D(x)) (default, EqGAN-SA) or "
                        "logit = D(x) (paper Sec. 3.1)")
    g.add_argument("--batch", type=int, help="global batch over all processes (default 16)")
    g.add_argument("--g-lr", type=float)
    g.add_argument("--d-lr", type=float)
    g.add_argument("--r1-gamma", type=float, help="default 0.0002 * resolution^2 / batch")
    g.add_argument("--r1-interval", type=int)
    g.add_argument("--ema-kimg", type=float, help="EMA half-life in kimg (default batch * 10 / 32)")
    g.add_argument("--style-mixing", type=float)
    g.add_argument("--kimg", dest="total_kimg", type=float, help="train until this many thousand real images")
    g.add_argument("--seed", type=int)
    g.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="bfloat16 autocast of the main G and D passes (CUDA, or a CPU with AVX512-BF16/AMX): "
                        "faster on such CPUs; whether it costs steering is not settled (docs/training.md); may "
                        "change when resuming")
    g.add_argument("--workers", type=int, help="data-loading processes per training process (default 2)")
    g.add_argument("--snapshot-kimg", type=float)
    g.add_argument("--sample-kimg", type=float)
    for name in ("channel_base", "channel_max", "w_dim", "mapping_layers"):
        g.add_argument("--" + name.replace("_", "-"), dest=name, type=int, help="architecture override")
    r = ap.add_argument_group("research variants and losses (not the paper's recipe; see spatialgan.research)")
    r.add_argument("--move-weight", type=float,
                   help="our move-consistency loss: a moved heatmap should carry its object and leave the rest; "
                        "0 (default) is the paper's recipe")
    r.add_argument("--move-batch", type=int, help="images per step the move loss uses (default 8)")
    r.add_argument("--const-input", choices=CONST_INPUTS,
                   help="the 4x4 block's input: learned (StyleGAN2, default) or flat, one vector at every position "
                        "(position then reaches G only through the heatmaps); a branch may switch it")
    r.add_argument("--sel-gain", dest="sel_residual_gain", type=float,
                   help="residual gain of SEL_norm / SEL_concat, out = x + GAIN * conv(SEL(x)): 0.1 (default, "
                        "EqGAN-SA); larger makes the heatmaps reach G's features more strongly from the start")
    r.add_argument("--heatmap-sampling", choices=HEATMAP_SAMPLINGS,
                   help="paper (default); Table IV's ablations: independent levels (Non-Hie) or Gaussian noise maps")


def build_parser() -> argparse.ArgumentParser:
    """`spatialgan-train new|resume|branch|export ...`."""
    ap = argparse.ArgumentParser(prog="spatialgan-train", description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True, metavar="{new,resume,branch,export}")
    new = sub.add_parser("new", help="start a run in a new folder")
    new.add_argument("out", type=Path, metavar="RUN", help="run folder for snapshots, samples and logs")
    _add_settings(new)
    resume = sub.add_parser("resume", help="continue a run from its snapshot (longer, or with --amp changed)")
    resume.add_argument("resume", type=Path, metavar="RUN")
    _add_settings(resume)
    branch = sub.add_parser("branch", help="start a new run as a copy of RUN's snapshot with other loss settings "
                                           "(alignment, move loss, R1 gamma, style mixing, seed, --const-input)")
    branch.add_argument("branch", type=Path, metavar="RUN")
    branch.add_argument("out", type=Path, metavar="NEW_RUN")
    _add_settings(branch)
    export = sub.add_parser("export", help="write a run's EMA generator as a model file")
    export.add_argument("resume", type=Path, metavar="RUN")
    export.add_argument("export", type=Path, metavar="FILE")
    export.add_argument("--half", action="store_true", help="store float16 weights (half the size)")
    return ap


def build_flag_parser() -> argparse.ArgumentParser:
    """The flag form of earlier versions (`--out`, `--resume`, `--branch`, `--export`), still accepted."""
    ap = argparse.ArgumentParser(prog="spatialgan-train", description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="run folder for snapshots, samples and logs (new runs)")
    ap.add_argument("--resume", type=Path, metavar="RUN", help="continue the run in this folder from its snapshot")
    ap.add_argument("--branch", type=Path, metavar="RUN", help="start --out as a copy of RUN's snapshot")
    ap.add_argument("--export", type=Path, metavar="FILE", help="write the EMA generator of --resume RUN and stop")
    ap.add_argument("--half", action="store_true", help="with --export: store float16 weights (half the size)")
    _add_settings(ap)
    return ap


def parse(argv: list[str] | None) -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        args = build_parser().parse_args(argv)
    elif argv and argv[0] in ("-h", "--help"):
        build_parser().parse_args(argv)  # prints the subcommands' help and exits
        raise AssertionError("unreachable")
    else:
        args = build_flag_parser().parse_args(argv)
        args.command = ("export" if args.export is not None else "branch" if args.branch is not None
                        else "resume" if args.resume is not None else "new")
    for name in ("out", "resume", "branch", "export"):
        setattr(args, name, getattr(args, name, None))
    args.half = getattr(args, "half", False)
    return args


def settings(args: argparse.Namespace) -> dict:
    return {k: v for k, v in vars(args).items() if k in FIELDS and v is not None}


def export(run: Path, out: Path, half: bool) -> int:
    model = run / MODEL
    ck = load_checkpoint(model)
    meta = {**ck.info.meta, "exported_from": str(run)}
    save_checkpoint(out, ck.generator, meta=meta, dtype=torch.float16 if half else torch.float32)
    print(f"exported the EMA generator of {run} ({meta.get('kimg')} kimg) -> {out}")
    return 0


def _changed(base: dict, given: dict, allowed: set[str]) -> set[str]:
    return {k for k in given if k not in allowed and given[k] != base.get(k)}


def branch(parent: Path, out: Path | None, given: dict) -> Path:
    """Make `out` a new run that starts from `parent`'s snapshot (networks, Adam state, step count) with the
    recipe changes in `given`; its log starts as a copy of the parent's, so the history stays in one file."""
    if out is None:
        raise SpatialGANError("--branch RUN needs --out NEW_RUN (where the branch is written)")
    if not (parent / SNAPSHOT).exists():
        raise SpatialGANError(f"{parent} has no {SNAPSHOT} to branch from")
    check_output_folder(out, "--out")
    if (out / SNAPSHOT).exists():
        raise SpatialGANError(f"{out} already holds a run; continue it with `spatialgan-train resume {out}` or pick "
                              "another folder")
    base = TrainConfig.load(parent / CONFIG).to_dict()
    fixed = _changed(base, given, BRANCHABLE)
    if fixed:
        raise SpatialGANError(f"a branch keeps its parent's architecture, data, batch and optimiser; cannot change "
                              f"{', '.join(sorted(fixed))} (start a new run for that)")
    cfg = TrainConfig.from_dict({**base, **given})  # validates the combination before anything is written
    reshaped = cfg.const_input != base.get("const_input", "learned")
    make_folder(out, "--out")
    # With a reshaped input the parent's exported model no longer fits the branch's config; the first snapshot
    # writes the branch's own.
    for name in ("log.jsonl", "command.txt") + (() if reshaped else (MODEL,)):
        if (parent / name).exists():
            shutil.copyfile(parent / name, out / name)
    cfg.save(out / CONFIG)
    # The snapshot last: until it is there, `out` is no run, and a failed copy can simply be repeated.
    if reshaped:
        names = [n for n, _ in build_generator(cfg.model_configs()[0], cfg.variant()).named_parameters()]
        reshape_const(parent / SNAPSHOT, out / SNAPSHOT, names.index(CONST), flat=cfg.const_input == "flat")
    else:
        shutil.copyfile(parent / SNAPSHOT, out / (SNAPSHOT + ".tmp"))
        (out / (SNAPSHOT + ".tmp")).replace(out / SNAPSHOT)
    changes = {k: given[k] for k in sorted(_changed(base, given, CHANGEABLE))}
    print(f"branched {parent} -> {out}" + (f" with {changes}" if changes else " (same recipe)"))
    return out


def prepare(args: argparse.Namespace) -> tuple[TrainConfig, Path, bool]:
    """The settings and folder of the run to train, and whether it continues from a snapshot."""
    given = settings(args)
    if args.command == "branch":
        if args.resume is not None:
            raise SpatialGANError("give --branch RUN --out NEW_RUN, or --resume RUN, not both")
        args.resume = branch(args.branch, args.out, given)
        given = {}
    if args.resume is not None:
        run = args.resume
        if not (run / SNAPSHOT).exists():
            raise SpatialGANError(f"{run} has no {SNAPSHOT} to resume from")
        base = TrainConfig.load(run / CONFIG).to_dict()
        fixed = _changed(base, given, CHANGEABLE)
        if fixed:
            raise SpatialGANError(f"cannot change {', '.join(sorted(fixed))} when resuming; start a new run")
        return TrainConfig.from_dict({**base, **given}), run, True
    if args.out is None:
        raise SpatialGANError("give a run folder: spatialgan-train new RUN (or --out RUN_FOLDER), or resume RUN")
    check_output_folder(args.out, "run folder")  # a file or an unwritable place: said before any work
    if (args.out / SNAPSHOT).exists():
        raise SpatialGANError(f"{args.out} already holds a run; continue it with: spatialgan-train resume {args.out}")
    return TrainConfig(**given), args.out, False


LONG_RUN_S = 3600.0  # a run longer than this on a CPU gets advice on making it shorter


def time_estimate(step_s: float, steps: int, cfg: TrainConfig, device: torch.device) -> str:
    """What the run will take on this device, measured before it starts, and what to do when that is long."""
    total = step_s * steps
    when = f"{total / 3600:.1f} h" if total >= 3600 else f"{total / 60:.0f} min" if total >= 60 else f"{total:.0f} s"
    text = (f"estimate: {step_s:.2f} s per step of {cfg.batch} images here, so about {when} for the "
            f"{steps} steps to {cfg.total_kimg:g} kimg")
    if total > LONG_RUN_S and device.type == "cpu":
        text += ("\n  that is long for a CPU. Faster: a GPU (--device cuda, hours become minutes); a smaller model "
                 "(--resolution 32, or --channel-base 4096); or a shorter run (--kimg "
                 f"{max(1, int(cfg.total_kimg * LONG_RUN_S / total))} fits in about an hour). Ctrl-C stops "
                 "with a snapshot; `spatialgan-train resume RUN` continues.")
    return text


def train(cfg: TrainConfig, run: Path, resuming: bool, args: argparse.Namespace) -> int:
    """Train `run` (from its snapshot when `resuming`) on the chosen device, on every process torchrun started."""
    device = pick_device(args.device)
    if cfg.amp and device.type == "cpu" and not native_bfloat16():
        print("note: this CPU has no bfloat16 instructions (AVX512-BF16 or AMX), so --amp emulates them and "
              "may train slower than float32; --no-amp turns it off", file=sys.stderr)
    elif cfg.amp and device.type not in AMP_DEVICES:
        print(f"note: --amp applies on {' and '.join(AMP_DEVICES)}; on {device.type} the run trains in float32",
              file=sys.stderr)
    dist = init_from_env(device.type)
    if device.type == "cuda" and dist.world > 1:
        device = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(device)
    trainer = Trainer(cfg, run, device=device, dist=dist, progress=not args.no_progress)
    if resuming:
        trainer.resume()
    # every process measures (a step's collectives need them all); the main one says what it found
    step_s = trainer.estimate_step_seconds() if trainer.step < cfg.total_steps else None
    if dist.main:
        (run / "command.txt").parent.mkdir(parents=True, exist_ok=True)
        with open(run / "command.txt", "a") as f:
            f.write(f"{' '.join(shlex.quote(a) for a in ['spatialgan-train', *sys.argv[1:]])}  # {describe(device)}, "
                    f"{dist.world} process(es), {platform.node()}\n")
        print(f"training {cfg.data} {cfg.resolution}px {cfg.encoding} on {describe(device)} x{dist.world}: "
              f"step {trainer.step}/{cfg.total_steps}, run folder {run}")
        if step_s is not None:
            print(time_estimate(step_s, cfg.total_steps - trainer.step, cfg, device), flush=True)
    try:
        trainer.run()
    except TrainingStopped as exc:
        raise SpatialGANError(f"training stopped: {exc}. The last good snapshot is in {run}; continue with "
                              f"`spatialgan-train resume {run}` after lowering the learning rates or --r1-gamma."
                              ) from None
    if dist.main:
        state = "interrupted" if trainer.interrupted else "finished"
        print(f"{state} at {trainer.kimg:.2f} kimg; model: {run / MODEL}"
              + (f"; continue with: spatialgan-train resume {run}" if trainer.interrupted else ""))
    return 130 if trainer.interrupted else 0


def main(argv: list[str] | None = None) -> int:
    args = parsed(lambda: parse(argv))
    if isinstance(args, int):
        return args

    def body() -> int:
        if args.command == "export":
            if args.resume is None:
                raise SpatialGANError("--export needs --resume RUN (the run to export)")
            return export(args.resume, args.export, args.half)
        return train(*prepare(args), args)

    return run_cli(body)


if __name__ == "__main__":
    raise SystemExit(main())
