"""Opening models this project did not train: NVIDIA network pickles, read safely (`netpickle`) and rebuilt in our
own code (`stylegan2_ada`, `eqgan_sa`, `stylegan3`, and the snapshots' `discriminator`), and saved in our
safetensors format with a model card.

    model = import_pickle("network-snapshot.pkl")     # a StyleGAN2ADA, the pickle's G_ema
    D = import_discriminator("network-snapshot.pkl")   # its D, where the snapshot has one
    save_imported("model.safetensors", model, D=D)     # our format: weights + the architectures' JSON, no code
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import safe_open

from ..checkpoint import FORMAT, FORMAT_VERSION, state_tensors, write_atomic
from ..errors import CheckpointError, SpatialGANError
from ..paths import cache_dir
from ..files import FileError, check_regular_file
from .discriminator import DiscriminatorConfig, ImportedDiscriminator
from . import rosinality
from .netpickle import NetworkPickleError, NoDiscriminator, PersistentRecord, generator_record, read_network_pickle
from .eqgan_sa import EqGANSA
from .stylegan2_ada import StyleGAN2ADA, StyleGAN2Config
from .stylegan3 import StyleGAN3

ARCHITECTURE_KEY = "architecture"
DISCRIMINATOR_KEY = "discriminator"
STYLEGAN2_ADA = "stylegan2-ada"
EQGAN_SA = "eqgan-sa"
STYLEGAN3 = "stylegan3"
Progress = Callable[[str], None]  # told each stage of a long import, in words
GENERATOR_ARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs",
                  "use_sel", "config_kwargs")

__all__ = ["DISCRIMINATOR_KEY", "EqGANSA", "ImportedDiscriminator", "NetworkPickleError", "NoDiscriminator",
           "StyleGAN2ADA",
           "StyleGAN2Config", "StyleGAN3", "import_discriminator", "import_pickle", "import_rosinality", "is_imported",
           "load_imported", "load_imported_discriminator",
           "save_imported", "sha256_of"]


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _architecture(rec: PersistentRecord, path: Path) -> str:
    """Which generator the record is, from its submodules (never by running its source)."""
    synthesis = rec.modules.get("synthesis")
    if rec.class_name != "Generator" or not isinstance(synthesis, PersistentRecord):
        raise NetworkPickleError(f"{path}: its generator is a {rec.class_name!r}, not a StyleGAN generator this "
                                 "tool knows")
    names = set(synthesis.modules)
    if "input" in names and any(n.startswith("L0_") for n in names):
        return STYLEGAN3
    if "b4" in names and rec.init_kwargs.get("use_sel"):
        if not {"hm_conv0_b8", "hm_conv0_b16", "hm_conv0_b32"} <= names:
            raise NetworkPickleError(f"{path}: an EqGAN-SA generator without its heatmap convs")
        return EQGAN_SA
    if "b4" in names:
        return STYLEGAN2_ADA
    raise NetworkPickleError(f"{path}: its generator's synthesis network has blocks {sorted(names)}, which this "
                             "tool does not know")


def _plain(value: Any) -> Any:
    """JSON-able copies of constructor arguments (EasyDicts, tuples, numpy scalars)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, torch.Tensor):
        return value.item()
    return value


def _stylegan2_config(kwargs: dict[str, Any], path: Path) -> StyleGAN2Config:
    # StyleGAN3's Generator takes its synthesis arguments at the top level, StyleGAN2's nested
    synthesis = {**{k: v for k, v in kwargs.items() if k not in GENERATOR_ARGS}, **(kwargs.get("synthesis_kwargs") or {})}
    try:
        cfg = StyleGAN2Config(int(kwargs["z_dim"]), int(kwargs["c_dim"]), int(kwargs["w_dim"]),
                               int(kwargs["img_resolution"]), int(kwargs["img_channels"]),
                               _plain(kwargs.get("mapping_kwargs") or {}), _plain(synthesis),
                               bool(kwargs.get("use_sel", False)))
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise NetworkPickleError(f"{path}: the generator's constructor arguments are incomplete ({exc})") from None
    _check_sizes(cfg, path)
    return cfg


# Far above any released model (StyleGAN3-R 1024 px: channel_base 65536, channel_max 1024; BigGAN-like c_dim 1000),
# so that a pickle asking for millions is refused before anything is allocated.
SIZE_LIMITS = {"z_dim": 4096, "w_dim": 4096, "c_dim": 100_000, "img_channels": 4, "num_layers": 32,
               "channel_base": 1 << 18, "channel_max": 4096, "num_fp16_res": 16, "layer_features": 4096}


def _check_sizes(cfg: StyleGAN2Config, path: Path) -> None:
    r = cfg.img_resolution
    if r < 4 or r > 2048 or r & (r - 1):
        raise NetworkPickleError(f"{path}: img_resolution {r} is not a power of two in 4..2048")
    given = {"z_dim": cfg.z_dim, "w_dim": cfg.w_dim, "c_dim": cfg.c_dim, "img_channels": cfg.img_channels,
             **cfg.mapping_kwargs, **cfg.synthesis_kwargs}
    for name, hi in SIZE_LIMITS.items():
        v = given.get(name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 <= v <= hi):
            raise NetworkPickleError(f"{path}: {name} = {v!r} is outside 0..{hi}; no such model exists (a damaged "
                                     f"or hostile file?)")
    if min(cfg.z_dim, cfg.w_dim, cfg.img_channels) < 1 and cfg.z_dim != 0:
        raise NetworkPickleError(f"{path}: w_dim and img_channels must be >= 1")


def _load_weights(model: torch.nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Copy `tensors` into `model`, naming any missing, unexpected or misshapen tensor."""
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or unexpected:
        parts = [f"{what} {len(keys)} tensor(s), e.g. {', '.join(keys[:3])}"
                 for what, keys in (("missing", missing), ("unexpected", unexpected)) if keys]
        raise NetworkPickleError(f"{source}: the weights do not fit the generator its arguments describe: "
                                 + "; ".join(parts))
    state = {}
    for name, ref in expected.items():
        t = tensors[name]
        if tuple(t.shape) != tuple(ref.shape):
            raise NetworkPickleError(f"{source}: tensor {name} has shape {tuple(t.shape)}, the architecture needs "
                                     f"{tuple(ref.shape)}")
        state[name] = t.detach().to(torch.float32)
        if state[name].is_floating_point() and not bool(torch.isfinite(state[name]).all()):
            raise NetworkPickleError(f"{source}: tensor {name} holds NaN or infinity: the model is damaged")
    model.load_state_dict(state)


ARCHITECTURES = {STYLEGAN2_ADA: StyleGAN2ADA, EQGAN_SA: EqGANSA, STYLEGAN3: StyleGAN3}


def _build(arch: str, cfg: StyleGAN2Config) -> Any:
    return ARCHITECTURES[arch](cfg)


def _arch_of(model: Any) -> str:
    return next(name for name, cls in ARCHITECTURES.items() if type(model) is cls)


def import_pickle(path: str | Path, progress: Progress | None = None) -> Any:
    """The generator of a network pickle (`G_ema`, else `G`), rebuilt in our code in float32, on the CPU: a
    `StyleGAN2ADA`, an `EqGANSA` (EqGAN-SA's heatmap generators) or a `StyleGAN3`."""
    path = Path(path)
    say = progress or (lambda _: None)
    try:
        check_regular_file(path, "network pickle")
    except FileError as exc:
        raise NetworkPickleError(str(exc)) from None
    say(f"reading the pickle ({_size_text(path)}, as data: nothing in it is run)")
    rec = generator_record(read_network_pickle(path), path)
    arch = _architecture(rec, path)
    cfg = _stylegan2_config(rec.init_kwargs, path)
    say(f"rebuilding its {arch} generator ({cfg.img_resolution} px)")
    try:
        model = _build(arch, cfg)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError, OverflowError,
            RuntimeError) as exc:
        raise NetworkPickleError(f"{path}: unsupported generator arguments ({type(exc).__name__}: {exc})") from None
    _load_weights(model, rec.tensors(), str(path))
    model.source = str(path)
    return model.eval()


# Discriminator arguments that change what it computes, beyond the ones DiscriminatorConfig takes: refused unless
# they hold upstream's defaults.
D_DEFAULTS = {"activation": "lrelu", "resample_filter": [1, 3, 3, 1]}


def _discriminator_config(kwargs: dict[str, Any], path: Path) -> DiscriminatorConfig:
    block = _plain(kwargs.get("block_kwargs") or {})
    for name, default in D_DEFAULTS.items():
        if name in block and block[name] != default:
            raise NetworkPickleError(f"{path}: its discriminator's {name} is {block[name]!r}; only {default!r} is "
                                     "supported")
    try:
        clamp = kwargs.get("conv_clamp")
        cfg = DiscriminatorConfig(int(kwargs["c_dim"]), int(kwargs["img_resolution"]), int(kwargs["img_channels"]),
                                  str(kwargs.get("architecture", "resnet")), int(kwargs.get("channel_base", 32768)),
                                  int(kwargs.get("channel_max", 512)), None if clamp is None else float(clamp),
                                  None if kwargs.get("cmap_dim") is None else int(kwargs["cmap_dim"]),
                                  _plain(kwargs.get("mapping_kwargs") or {}),
                                  _plain(kwargs.get("epilogue_kwargs") or {}),
                                  int(kwargs.get("num_fp16_res", 0)))
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise NetworkPickleError(f"{path}: the discriminator's constructor arguments are incomplete ({exc})") from None
    # the same bounds as a generator's: a hostile file asking for millions of channels is refused before allocating
    _check_sizes(StyleGAN2Config(1, cfg.c_dim, 1, cfg.img_resolution, cfg.img_channels, cfg.mapping_kwargs,
                                 {"channel_base": cfg.channel_base, "channel_max": cfg.channel_max}), path)
    return cfg


def _build_discriminator(cfg: DiscriminatorConfig, tensors: dict[str, torch.Tensor], source: str,
                         own_filters: bool = False) -> ImportedDiscriminator:
    """D built from `cfg` with `tensors` loaded; `own_filters` fills the resampling filters a rosinality file
    does not store."""
    try:
        D = ImportedDiscriminator(cfg)
    except (TypeError, ValueError, KeyError, ZeroDivisionError, OverflowError, RuntimeError, SpatialGANError) as exc:
        raise NetworkPickleError(f"{source}: unsupported discriminator arguments ({exc})") from None
    _load_weights(D, _with_own_filters(D, tensors) if own_filters else tensors, source)
    return D.eval().requires_grad_(False)


def import_discriminator(path: str | Path) -> ImportedDiscriminator:
    """The discriminator of a training snapshot (`D` of a StyleGAN2-ADA, EqGAN-SA or StyleGAN3 pickle, all
    StyleGAN2's D; `d` of a rosinality checkpoint), in float32 on the CPU; a file without one is refused in one
    line."""
    path = Path(path)
    if path.suffix.lower() in rosinality.SUFFIXES:
        cfg, tensors = rosinality.discriminator(rosinality.read_checkpoint(path), path)
        return _build_discriminator(cfg, tensors, str(path), own_filters=True)
    data = read_network_pickle(path)
    rec = data.get("D")
    if not isinstance(rec, PersistentRecord):
        raise NoDiscriminator(f"{path} holds no discriminator (D): it is a generator-only export, not a training "
                                 "snapshot; GradCAM and the alignment measure need the snapshot")
    if rec.class_name != "Discriminator":
        raise NetworkPickleError(f"{path}: its D is a {rec.class_name!r}, not StyleGAN2's Discriminator")
    return _build_discriminator(_discriminator_config(rec.init_kwargs, path), rec.tensors(), str(path))


def _with_own_filters(model: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """rosinality's layers keep their resampling filters where ours do not: ours (checked equal) fill the gap."""
    return {**{k: v for k, v in model.state_dict().items() if k.endswith("resample_filter")}, **tensors}


def import_rosinality(path: str | Path) -> StyleGAN2ADA:
    """The generator of a rosinality stylegan2-pytorch checkpoint (`g_ema`, else `g`), in float32 on the CPU."""
    path = Path(path)
    cfg, tensors, has_mean = rosinality.generator(rosinality.read_checkpoint(path), path)
    _check_sizes(cfg, path)
    model = StyleGAN2ADA(cfg)
    if not has_mean:
        tensors["mapping.w_avg"] = torch.zeros(cfg.w_dim)
    _load_weights(model, _with_own_filters(model, tensors), str(path))
    if not has_mean:
        rosinality.estimate_mean_w(model)
    model.source = str(path)
    return model.eval()


def save_imported(path: str | Path, model: StyleGAN2ADA, card: dict[str, Any] | None = None,
                  D: ImportedDiscriminator | None = None) -> Path:
    """Our checkpoint format for an imported architecture: float32 weights and a header naming the architecture,
    its constructor arguments and a model card (source file, its sha256, resolution, labels); with `D`, the
    snapshot's discriminator too (its weights under "D.", its arguments in the header)."""
    cfg = model.config
    meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "dtype": "float32",
            ARCHITECTURE_KEY: _arch_of(model),
            "generator": json.dumps({"z_dim": cfg.z_dim, "c_dim": cfg.c_dim, "w_dim": cfg.w_dim,
                                     "img_resolution": cfg.img_resolution, "img_channels": cfg.img_channels,
                                     "mapping_kwargs": cfg.mapping_kwargs, "synthesis_kwargs": cfg.synthesis_kwargs,
                                     "use_sel": cfg.use_sel}),
            "meta": json.dumps(card or {})}
    tensors = state_tensors(model, "G.")
    if D is not None:
        meta[DISCRIMINATOR_KEY] = json.dumps(D.config.__dict__)
        tensors.update(state_tensors(D, "D."))
    return write_atomic(path, tensors, meta)


def load_imported_discriminator(path: str | Path) -> ImportedDiscriminator:
    """The discriminator saved beside an imported generator by `save_imported`; refused in one line if none was."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if DISCRIMINATOR_KEY not in meta:
                raise CheckpointError(f"{path} holds no discriminator: import the training snapshot (.pkl) that has "
                                      "its D")
            tensors = {k[2:]: f.get_tensor(k) for k in f.keys() if k.startswith("D.")}
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - safetensors' own error types
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or corrupt?): {exc}") from None
    try:
        cfg = _discriminator_config(json.loads(meta[DISCRIMINATOR_KEY]), path)
        return _build_discriminator(cfg, tensors, str(path))
    except (json.JSONDecodeError, AttributeError, NetworkPickleError) as exc:
        raise CheckpointError(f"{path} has a bad discriminator header or weights: {exc}") from None


def is_imported(path: str | Path) -> bool:
    """Whether a checkpoint holds an imported architecture (rather than our generator)."""
    if not Path(path).is_file():  # not a regular file (a FIFO would block the reader): the loader explains
        return False
    try:
        with safe_open(str(path), framework="pt") as f:
            return (f.metadata() or {}).get(ARCHITECTURE_KEY) is not None
    except Exception:  # noqa: BLE001 - not a safetensors file: the regular loader explains
        return False


def load_imported(path: str | Path, device: torch.device | str = "cpu") -> tuple[StyleGAN2ADA, dict[str, Any]]:
    """An imported model saved by `save_imported`, and its card."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k[2:]: f.get_tensor(k) for k in f.keys() if k.startswith("G.")}
    except Exception as exc:  # noqa: BLE001 - safetensors' own error types
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or corrupt?): {exc}") from None
    arch = meta.get(ARCHITECTURE_KEY)
    if arch not in ARCHITECTURES:
        raise CheckpointError(f"{path}: unknown architecture {arch!r}")
    try:
        model = _build(arch, _stylegan2_config(json.loads(meta["generator"]), path))
        card = json.loads(meta.get("meta", "{}"))
        _load_weights(model, tensors, str(path))
    except (KeyError, json.JSONDecodeError, NetworkPickleError) as exc:
        raise CheckpointError(f"{path} has a bad header or weights: {exc}") from None
    model.source = str(card.get("source", path))
    return model.to(device).eval(), card


def _size_text(path: Path) -> str:
    mb = path.stat().st_size / 2**20
    return f"{mb:.1f} MB" if mb < 10 else f"{mb:.0f} MB"


def import_cached(path: str | Path, cache: str | Path | None = None,
                  progress: Progress | None = None) -> tuple[StyleGAN2ADA, Path]:
    """A pickle imported once and kept in our format under the cache folder, keyed by the file's sha256: opening
    the same .pkl again skips the import. `progress` hears each stage."""
    path = Path(path)
    say = progress or (lambda _: None)
    say(f"hashing {path.name} ({_size_text(path)})")
    digest = sha256_of(path)
    folder = Path(cache or cache_dir()) / "imported"
    target = folder / f"{path.stem}-{digest[:16]}.safetensors"
    if target.exists():
        say(f"loading the import made earlier ({target.name})")
        try:
            return load_imported(target)[0], target
        except CheckpointError:
            target.unlink(missing_ok=True)  # a damaged cache entry: import again
    model = import_pickle(path, say)
    say(f"saving the import for next time ({target.parent})")
    save_imported(target, model, model_card(path, model, digest))
    return model, target


def model_card(path: Path, model: StyleGAN2ADA, digest: str | None = None) -> dict[str, Any]:
    caps = model.capabilities
    return {"source": str(path), "source_sha256": digest or sha256_of(path),
            "architecture": _arch_of(model),
            "description": caps.description, "resolution": caps.resolution, "labels": list(caps.class_labels),
            "num_ws": caps.num_ws}
