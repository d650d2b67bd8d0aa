"""Helpers for the bench/table_*.py scripts: the machine a result came from, equal-budget training runs, and
writing markdown + JSON side by side."""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ..errors import SpatialGANError


def machine() -> dict[str, Any]:
    """What produced a number: CPU/GPU, torch, and the load average (the CPU is often shared)."""
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "torch": torch.__version__, "cpu_count": os.cpu_count(),
                            "torch_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    try:
        info["cpu_model"] = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                                 if line.startswith("model name"))
    except (OSError, StopIteration):
        info["cpu_model"] = platform.processor()
    info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return info


def train_run(out: Path, flags: list[str]) -> tuple[Path, float]:
    """Train with `spatialgan-train` (unless `out` already holds a finished export) and export the EMA generator.
    The trainer's output goes to `<out>.log` beside the run folder.

    Returns (checkpoint path, wall seconds spent training here; 0 when reused). A run found in `out` is reused
    or resumed only if it was started with the same recipe, so a table never mixes budgets or settings."""
    ckpt = out / "G.safetensors"
    if (out / "train_config.json").is_file():
        _check_same_recipe(out, flags)
    if ckpt.is_file():
        return ckpt, 0.0
    t0 = time.monotonic()
    cmd = [sys.executable, "-m", "spatialgan.training.cli", "--no-progress"]
    if (out / "train_config.json").is_file():
        cmd += ["--resume", str(out)]
    else:
        cmd += ["--out", str(out), *flags]
    print("+", shlex.join(cmd), flush=True)
    log = out.parent / f"{out.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as fh:
        subprocess.run(cmd, check=True, stdout=fh, stderr=subprocess.STDOUT)
    secs = time.monotonic() - t0
    subprocess.run([sys.executable, "-m", "spatialgan.training.cli", "--resume", str(out), "--export", str(ckpt)],
                   check=True, stdout=subprocess.DEVNULL)
    return ckpt, secs


def _check_same_recipe(out: Path, flags: list[str]) -> None:
    from ..training.cli import build_parser, settings
    from ..training.config import TrainConfig

    want = TrainConfig(**settings(build_parser().parse_args(flags))).to_dict()
    have = TrainConfig.load(out / "train_config.json").to_dict()
    how_often = {"workers", "snapshot_kimg", "sample_kimg", "log_steps"}  # do not change what is trained
    diff = sorted(k for k in want if k not in how_often and want[k] != have.get(k))
    if diff:
        what = "; ".join(f"{k}: {have.get(k)!r} there, {want[k]!r} asked" for k in diff)
        raise SpatialGANError(f"{out} holds a run with other settings ({what}); remove it or pick another runs folder")


def write(out_stem: Path, md: str, data: dict[str, Any]) -> None:
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    out_stem.with_suffix(".md").write_text(md)
    out_stem.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {out_stem.with_suffix('.md')} and .json")


def command_line() -> str:
    return shlex.join(["python3", *sys.argv])


def header(title: str, mach: dict[str, Any]) -> list[str]:
    """The first markdown lines of a results file: its title, the command that wrote it and the CPU."""
    return [f"# {title}", "", f"Command: `{command_line()}`", "",
            f"Machine: {mach['cpu_model']} ({mach['cpu_count']} CPUs), torch {mach['torch']}.", ""]
