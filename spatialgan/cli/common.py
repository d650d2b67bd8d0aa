"""Shared command-line plumbing: user errors become one clear line and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Callable

import torch

from ..config import ENCODINGS
from ..limits import MAX_SEED
from ..errors import SpatialGANError, clean_text
from ..loading import open_model
from ..model import SteerableModel
from ..paths import default_checkpoint


OUT_OF_MEMORY = "not enough memory for this (a smaller batch, resolution or model would fit)"
INTERNAL_ERROR = 3  # exit code of a failure that is our bug, not the user's input (the fuzz test looks for it)


def parsed(parse: Callable[[], argparse.Namespace]) -> argparse.Namespace | int:
    """Parse a command line; argparse's exit (a refused value: 2, --help: 0) becomes a returned code, so a
    command's `main()` returns instead of exiting when called from Python."""
    try:
        return parse()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2


def run_cli(body: Callable[[], int]) -> int:
    """Run a command's body: a user's mistake is one clean line on stderr and exit code 2, never a traceback."""
    try:
        return body()
    except SpatialGANError as exc:
        print(f"error: {clean_text(str(exc), 600)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # the system refused a file operation: permission, a name too long, a read-only place
        where = f" {clean_text(str(exc.filename), 200)}" if exc.filename else ""
        print(f"error: cannot use{where}: {clean_text(exc.strerror or str(exc), 300)}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - one line that says what happened, not a wall of traceback
        # torch's CUDA and CPU allocators report running out of memory as a RuntimeError
        if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and (
                "out of memory" in str(exc) or "can't allocate memory" in str(exc))):
            print(f"error: {OUT_OF_MEMORY}" + (f" ({clean_text(str(exc), 160)})" if str(exc) else ""), file=sys.stderr)
            return 2
        print(f"error: internal error ({type(exc).__name__}: {clean_text(str(exc), 300)}); this is a bug, please "
              f"report it with the command you ran", file=sys.stderr)
        return INTERNAL_ERROR


def number(lo: float, hi: float, integer: bool = False, lo_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in [lo, hi] ((lo, hi] with `lo_open`), whole with `integer`. NaN, inf
    and out-of-range values are refused with a line that says what is allowed."""
    kind = "a whole number" if integer else "a number"
    span = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"

    def parse(text: str) -> float:
        try:
            v: float = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{clean_text(text, 40)!r} is not {kind}") from None
        if not math.isfinite(v) or v < lo or v > hi or (lo_open and v == lo):
            raise argparse.ArgumentTypeError(f"{clean_text(text, 40)} is outside {span}")
        return v

    parse.__name__ = "integer" if integer else "number"  # argparse names the type in its messages
    return parse


SEED = number(0, MAX_SEED, integer=True)
PSI = number(-2.0, 2.0)  # truncation: 1 is none, 0 the mean w; beyond [-2, 2] only noise


def add_model_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--checkpoint", "-c", help="a model: a bundled name's file or our .safetensors checkpoint, a "
                                               "network pickle (.pkl) of StyleGAN2-ADA (DragGAN's too), EqGAN-SA or "
                                               "StyleGAN3, or a rosinality stylegan2-pytorch checkpoint (.pt) "
                                               "(default: the bundled default model)")
    ap.add_argument("--untrained", metavar="RES:ENCODING",
                    help=f"use a randomly initialised preset instead, e.g. 64:sel_indoor (encodings: "
                         f"{', '.join(ENCODINGS)}); for trying the pipeline, not for pictures")
    ap.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps")


def add_class_arg(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--class", dest="label", type=number(0, 100_000, integer=True), default=None, metavar="N",
                    help="the class to draw, for a class-conditional model (default 0)")


def seed_ws(G: SteerableModel, seed: int, psi: float, label: int | None, device: torch.device) -> torch.Tensor:
    """The ws a seed draws on any model, in the render path's shape; a class only where the model has classes."""
    if label is not None and not G.capabilities.class_labels:
        raise SpatialGANError("--class is for class-conditional models; this one has no classes")
    return G.seed_ws(seed, psi=psi, label=label).to(device)


def report(stage: str) -> None:
    """Progress of a long step (a pickle's first import), on stderr so that JSON on stdout stays clean."""
    print(f"  {stage} ...", file=sys.stderr, flush=True)


def load_model(args: argparse.Namespace, device: torch.device) -> tuple[SteerableModel, str]:
    """The model the arguments ask for, and a one-line description of where it came from."""
    return open_model(None if args.untrained else (args.checkpoint or default_checkpoint()), args.untrained, device,
                      report)
