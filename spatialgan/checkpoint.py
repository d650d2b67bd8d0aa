"""The project's checkpoint format: one `.safetensors` file whose header metadata holds the JSON configs.

safetensors stores raw tensors and a JSON header only, so loading never executes code from the file (unlike
the pickles of stylegan2-ada / EqGAN-SA). Every failure surfaces as a `CheckpointError` naming the file and
the cause.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save as save_tensors

from .config import DiscriminatorConfig, GeneratorConfig, preset
from .discriminator import Discriminator
from .errors import CheckpointError, ConfigError
from .files import FileError, check_regular_file, parse_json, write_atomic as write_file_atomic
from .generator import Generator
from .research import Variant, build as build_generator, split_legacy, variant_of

FORMAT = "spatialgan-checkpoint"
FORMAT_VERSION = 1
SUFFIX = ".safetensors"
CHECKSUM_KEY = "sha256_tensors"  # the header key of `_digest`; older files have "sha256" (names and bytes only)


@dataclass
class CheckpointInfo:
    """What a checkpoint holds, read from its header without loading the weights."""

    path: Path
    generator: GeneratorConfig
    discriminator: DiscriminatorConfig | None
    meta: dict[str, Any] = field(default_factory=dict)
    dtype: str = "float32"
    sha256: str = ""  # files before dtype and shape were checksummed: names and bytes only
    variant: Variant = field(default_factory=Variant)  # an experimental generator (`spatialgan.research`)
    checksum: str = ""  # names, dtypes, shapes and bytes (`_digest`)


@dataclass
class Checkpoint:
    info: CheckpointInfo
    generator: Generator
    discriminator: Discriminator | None


def _digest(tensors: dict[str, torch.Tensor], with_layout: bool = True) -> str:
    """SHA-256 over each tensor's name, dtype, shape and raw bytes in key order: detects data corrupted after the
    header, and a header whose dtype or shape was changed (same byte count, other numbers). Files written before
    dtype and shape were covered (`with_layout=False`) keep the name-and-bytes digest under the key "sha256"."""
    h = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key].detach().cpu().contiguous()
        h.update(key.encode())
        if with_layout:
            h.update(f"|{str(t.dtype).removeprefix('torch.')}|{'x'.join(map(str, t.shape))}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def verify(path: Path, tensors: dict[str, torch.Tensor], metadata_sha: str, layout_sha: str) -> None:
    """Raise `CheckpointError` if the weights do not match the header's checksum or hold NaN or infinity."""
    # every checksum the header carries must hold: one that is there and wrong means damage, whichever it is
    if layout_sha and _digest(tensors) != layout_sha or metadata_sha and _digest(tensors, False) != metadata_sha:
        raise CheckpointError(f"{path} is corrupt: its weights do not match the checksum in its header")
    for key in sorted(tensors):
        t = tensors[key]
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{path}: tensor {key} holds NaN or infinity; the model is damaged (a diverged "
                                  f"training run?) and would draw nothing")


def state_tensors(module: torch.nn.Module, prefix: str, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """A module's state as contiguous CPU tensors under `prefix`, floating ones cast to `dtype` if given."""
    out = {}
    for key, t in module.state_dict().items():
        t = t.detach().to("cpu")
        out[prefix + key] = (t.to(dtype) if dtype is not None and t.is_floating_point() else t).contiguous()
    return out


def save_checkpoint(path: str | os.PathLike, generator: Generator, discriminator: Discriminator | None = None,
                    meta: dict[str, Any] | None = None, dtype: torch.dtype = torch.float32) -> Path:
    """Write weights (floating tensors cast to `dtype`, e.g. float16 for shipping) and configs atomically:
    a crash mid-write leaves the previous file intact."""
    path = Path(path)
    tensors = state_tensors(generator, "G.", dtype)
    if discriminator is not None:
        tensors.update(state_tensors(discriminator, "D.", dtype))
    for key in sorted(tensors):  # a diverged run must stop with this, not export a model that draws nothing
        if tensors[key].is_floating_point() and not bool(torch.isfinite(tensors[key]).all()):
            raise CheckpointError(f"not writing {path}: tensor {key} holds NaN or infinity (the training diverged; "
                                  f"resume from an earlier snapshot with a lower learning rate)")
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "dtype": str(dtype).removeprefix("torch."),
        "generator": json.dumps(generator.config.to_dict()),
        "meta": json.dumps(meta or {}),
        CHECKSUM_KEY: _digest(tensors),
    }
    variant = variant_of(generator)
    if not variant.is_default:  # only experiments carry one: a shipped model's header knows nothing of them
        metadata["variant"] = json.dumps(variant.to_dict())
    if discriminator is not None:
        metadata["discriminator"] = json.dumps(discriminator.config.to_dict())
    return write_atomic(path, tensors, metadata)


def write_atomic(path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    """Write a safetensors file through a temporary file and a rename, so readers never see half a file."""
    try:
        # serialised here and written by us: safetensors' own file writer renames its own temporary file, which a
        # killed write would leave behind under a name nobody can tell apart from a user's file
        return write_file_atomic(path, lambda tmp: tmp.write_bytes(save_tensors(tensors, metadata=metadata)),
                                 what="checkpoint")
    except FileError as exc:
        raise CheckpointError(str(exc)) from None


def _sniff_foreign(path: Path) -> str:
    """A hint for files that are not ours: pickles and torch.save zips are refused, never unpickled."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:1] == b"\x80":
        return " It looks like a Python pickle (e.g. a stylegan2-ada / EqGAN-SA .pkl); pickles can run code when " \
               "loaded, so they are not opened."
    if head[:2] == b"PK":
        return " It looks like a torch.save archive, which can run code when loaded, so it is not opened."
    return ""


def _json_object(text: str, what: str) -> dict[str, Any]:
    """A header entry that must be a JSON object (a list or a string would read as defaults)."""
    value = parse_json(text, what)
    if not isinstance(value, dict):
        kind = {"list": "list", "str": "string", "bool": "boolean"}.get(type(value).__name__, "number")
        raise ConfigError(f"its {what} is a JSON {kind}, not an object" if value is not None else
                          f"its {what} is null, not an object")
    return value


def read_info(path: str | os.PathLike) -> CheckpointInfo:
    """Read and validate a checkpoint's header (configs, metadata) without loading weights."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        check_regular_file(path, "checkpoint")
    except FileError as exc:
        raise CheckpointError(str(exc)) from None
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for truncated/corrupt headers
        raise CheckpointError(f"{path} is not a readable SpatialGAN checkpoint (truncated or corrupt?): "
                              f"{exc}.{_sniff_foreign(path)}") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not a SpatialGAN checkpoint "
                              f"(its metadata has no format={FORMAT!r})")
    if metadata.get("format_version") != str(FORMAT_VERSION):
        raise CheckpointError(f"{path} has checkpoint format version {metadata.get('format_version')!r}; "
                              f"this version of spatialgan reads version {FORMAT_VERSION}")
    try:
        # Files written before the research variants moved out of the generator config kept them inside it.
        gdict, variant = split_legacy(_json_object(metadata["generator"], "generator"))
        if "variant" in metadata:
            variant = Variant.from_dict(_json_object(metadata["variant"], "variant"))
        gcfg = GeneratorConfig.from_dict(gdict)
        variant.check(gcfg)
        dcfg = (DiscriminatorConfig.from_dict(_json_object(metadata["discriminator"], "discriminator"))
                if "discriminator" in metadata else None)
        meta = _json_object(metadata.get("meta", "{}"), "meta")
    except (KeyError, TypeError, ValueError, ConfigError, FileError) as exc:
        raise CheckpointError(f"{path} has a bad config in its header: {exc}") from None
    return CheckpointInfo(path, gcfg, dcfg, meta, metadata.get("dtype", "float32"), metadata.get("sha256", ""),
                          variant, metadata.get(CHECKSUM_KEY, ""))


def _load_into(module: torch.nn.Module, tensors: dict[str, torch.Tensor], prefix: str, path: Path,
               device: torch.device) -> None:
    expected = module.state_dict()
    stored = {k[len(prefix):] for k in tensors if k.startswith(prefix)}
    missing, unexpected = sorted(set(expected) - stored), sorted(stored - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path} does not match its config: " + "; ".join(
                f"{what} {len(keys)} tensor(s) e.g. {', '.join(prefix + k for k in keys[:3])}"
                for what, keys in (("missing", missing), ("unexpected", unexpected)) if keys))
    state = {}
    for key, ref in expected.items():
        t = tensors[prefix + key]
        if t.shape != ref.shape:
            raise CheckpointError(f"{path}: tensor {prefix + key} has shape {tuple(t.shape)}, "
                                  f"its config needs {tuple(ref.shape)}")
        state[key] = t.to(device=device, dtype=ref.dtype)
    module.load_state_dict(state)


def load_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu",
                    with_discriminator: bool = False) -> Checkpoint:
    """Rebuild the networks from the header's configs and load the weights (cast to float32 on `device`)."""
    info = read_info(path)
    device = torch.device(device)
    G = build_generator(info.generator, info.variant).to(device)
    D = None
    if with_discriminator:
        if info.discriminator is None:
            raise CheckpointError(f"{info.path} holds no discriminator (shipped models keep the generator only)")
        D = Discriminator(info.discriminator).to(device)
    try:
        with safe_open(str(info.path), framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # data section truncated or corrupt after a good header
        raise CheckpointError(f"{info.path}: could not read the weights (truncated or corrupt?): {exc}") from None
    verify(info.path, tensors, info.sha256, info.checksum)
    _load_into(G, tensors, "G.", info.path, device)
    if D is not None:
        _load_into(D, tensors, "D.", info.path, device)
    G.eval()
    return Checkpoint(info, G, D)


def load_generator(checkpoint: str | os.PathLike | None, untrained: str | None = None,
                   device: torch.device | str = "cpu") -> tuple[Generator, str]:
    """The generator a user asked for, and where it came from: a checkpoint, or with `untrained` a randomly
    initialised preset given as 'RES' or 'RES:ENCODING' (default sel_indoor), for trying the pipeline."""
    device = torch.device(device)
    if untrained:
        res_text, _, enc = untrained.partition(":")
        try:
            gcfg, _ = preset(int(res_text), enc or "sel_indoor")  # type: ignore[arg-type]
        except ValueError as exc:
            raise ConfigError(f"--untrained expects RES:ENCODING such as 64:sel_indoor ({exc})") from None
        torch.manual_seed(0)
        return Generator(gcfg).to(device).eval(), f"untrained {gcfg.resolution} px {gcfg.encoding} network"
    if checkpoint is None:
        raise CheckpointError("no checkpoint given and none is bundled in checkpoints/ yet; pass --checkpoint "
                              "PATH, or --untrained 64:sel_indoor to try an untrained network")
    ck = load_checkpoint(checkpoint, device=device)
    return ck.generator.eval(), str(ck.info.path)
