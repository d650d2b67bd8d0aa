"""Training snapshots: networks, EMA generator and optimiser state in one safetensors file (no pickles),
written atomically so a killed run always leaves its last complete snapshot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from torch import nn

from ..checkpoint import state_tensors, write_atomic
from ..errors import CheckpointError

FORMAT = "spatialgan-snapshot"


def _optimizer_tensors(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], Any]:
    sd = opt.state_dict()
    tensors = {f"{prefix}.{idx}.{key}": value.detach().cpu().contiguous()
               for idx, state in sd["state"].items() for key, value in state.items()}
    return tensors, sd["param_groups"]


def save_snapshot(path: Path, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                  info: dict[str, Any]) -> Path:
    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        tensors.update(state_tensors(module, name + "."))
    groups = {}
    for name, opt in optimizers.items():
        t, groups[name] = _optimizer_tensors(opt, "opt_" + name)
        tensors.update(t)
    metadata = {"format": FORMAT, "info": json.dumps(info), "param_groups": json.dumps(groups)}
    return write_atomic(path, tensors, metadata)


def read_snapshot_info(path: Path) -> dict[str, Any]:
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:
        raise CheckpointError(f"cannot read snapshot {path} (truncated or corrupt?): {exc}") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a SpatialGAN training snapshot")
    return json.loads(meta["info"])


def load_snapshot(path: Path, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                  device: torch.device) -> dict[str, Any]:
    """Restore modules and optimisers in place; returns the snapshot's info dict."""
    info = read_snapshot_info(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            keys = list(f.keys())
            groups = json.loads(f.metadata()["param_groups"])
            for name, module in modules.items():
                state = {k[len(name) + 1:]: f.get_tensor(k) for k in keys if k.startswith(name + ".")}
                module.load_state_dict(state)
            for name, opt in optimizers.items():
                prefix = f"opt_{name}."
                state: dict[int, dict[str, torch.Tensor]] = {}
                for k in keys:
                    if k.startswith(prefix):
                        idx, key = k[len(prefix):].split(".", 1)
                        state.setdefault(int(idx), {})[key] = f.get_tensor(k)
                opt.load_state_dict({"state": state, "param_groups": groups[name]})
    except (RuntimeError, KeyError, ValueError) as exc:
        raise CheckpointError(f"snapshot {path} does not fit this run's networks: {exc}") from None
    for opt in optimizers.values():  # optimiser state follows its parameters' device
        for st in opt.state.values():
            for k, v in st.items():
                if torch.is_tensor(v) and k != "step":
                    st[k] = v.to(device)
    return info


CONST = "synthesis.blocks.0.const"  # the 4x4 block's input (a research variant may flatten it)


def reshape_const(src: Path, dst: Path, g_param_index: int, flat: bool) -> Path:
    """Copy a snapshot with G's and G_ema's 4x4 input made flat (its mean over the 16 positions) or learned (the
    flat vector at every position, the same picture). G's Adam state for that parameter is dropped: a flat input's
    gradient sums the positions', so the old moments do not carry over, and Adam starts afresh for it.
    `g_param_index` is its place in `G.parameters()`."""
    read_snapshot_info(src)  # a clear error if `src` is no snapshot
    with safe_open(str(src), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    for name in ("G", "G_ema"):
        c = tensors[f"{name}.{CONST}"]
        tensors[f"{name}.{CONST}"] = (c.mean((2, 3), keepdim=True) if flat
                                      else c.expand(-1, -1, 4, 4)).contiguous()
    prefix = f"opt_G.{g_param_index}."
    tensors = {k: v for k, v in tensors.items() if not k.startswith(prefix)}
    return write_atomic(dst, tensors, meta)
