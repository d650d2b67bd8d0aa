"""Frozen, JSON-serialisable model configurations and the `build_*` factories' inputs.

A config fully describes an architecture: it is saved next to the weights in every checkpoint and is
enough to rebuild the network before the weights are loaded.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, TypeVar, get_args

from .errors import ConfigError
from .limits import is_number


Encoding = Literal["none", "sel_norm", "sel_concat", "sel_indoor"]
HeatmapMode = Literal["hierarchical", "multi"]
ENCODINGS: tuple[str, ...] = get_args(Encoding)
HEATMAP_MODES: tuple[str, ...] = get_args(HeatmapMode)


@dataclass(frozen=True)
class HeatmapConfig:
    """Which heatmaps a generator consumes (paper Sec. 3.2)."""

    mode: HeatmapMode = "hierarchical"
    # Feature resolutions that carry heatmaps. The paper encodes levels 0,1,2 = 4x4, 8x8, 16x16 only:
    # finer GradCAM maps follow semantics too closely to be useful targets.
    levels: tuple[int, ...] = (4, 8, 16)
    # Hierarchical mode: centres drawn per level (the paper's 1, 2, 4).
    centres_per_level: tuple[int, ...] = (1, 2, 4)
    # Multi-object mode: sub-heatmaps (objects) per image, the paper's n = 3.
    num_objects: int = 3

    def validate(self, resolution: int) -> None:
        if not isinstance(self.levels, (tuple, list)) or not isinstance(self.centres_per_level, (tuple, list)):
            raise ConfigError("heatmap.levels and heatmap.centres_per_level must be lists of whole numbers")
        if len(self.levels) > 8 or len(self.centres_per_level) > 8:
            raise ConfigError("heatmap.levels can name at most 8 feature resolutions")
        for r in self.levels:
            _check_int("heatmap.levels entry", r, 1, 1024)
        for n in self.centres_per_level:
            _check_int("heatmap.centres_per_level entry", n, 1, MAX_OBJECTS)
        _check_int("heatmap.num_objects", self.num_objects, 1, MAX_OBJECTS)
        if self.mode not in HEATMAP_MODES:
            raise ConfigError(f"heatmap.mode must be one of {HEATMAP_MODES}, got {self.mode!r}")
        if not self.levels:
            raise ConfigError("heatmap.levels must name at least one feature resolution")
        for r in self.levels:
            if not _is_pow2(r) or r < 4 or r > resolution:
                raise ConfigError(
                    f"heatmap.levels entry {r} must be a power of two between 4 and the resolution {resolution}"
                )
        if list(self.levels) != sorted(set(self.levels)):
            raise ConfigError(f"heatmap.levels must be strictly increasing, got {self.levels}")
        if self.mode == "hierarchical":
            if len(self.centres_per_level) != len(self.levels):
                raise ConfigError(
                    f"heatmap.centres_per_level has {len(self.centres_per_level)} entries "
                    f"but heatmap.levels has {len(self.levels)}"
                )
            if any(n < 1 for n in self.centres_per_level):
                raise ConfigError("heatmap.centres_per_level entries must be >= 1")
        if self.num_objects < 1:
            raise ConfigError("heatmap.num_objects must be >= 1")


@dataclass(frozen=True)
class GeneratorConfig:
    """StyleGAN2 generator with optional spatial encoding (paper Sec. 3.2)."""

    resolution: int = 256  # output size, a power of two in [32, 1024]
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr_mul: float = 0.01  # StyleGAN2's reduced learning rate for the mapping network
    channel_base: int = 16384  # channels at resolution r: min(channel_base // r, channel_max)
    channel_max: int = 512
    img_channels: int = 3
    encoding: Encoding = "sel_norm"
    heatmap: HeatmapConfig = field(default_factory=HeatmapConfig)
    sel_hidden: int = 64  # width of the shared conv inside SEL_norm (EqGAN-SA: 64)
    heatmap_features: int = 32  # channels of the processed heatmap fed to every SEL (EqGAN-SA: 16 -> 32)
    w_avg_beta: float = 0.995  # EMA decay of the tracked mean w, used for truncation

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _check_int("resolution", self.resolution, 1, 1024)
        if not _is_pow2(self.resolution) or not 32 <= self.resolution <= 1024:
            raise ConfigError(f"resolution must be a power of two in [32, 1024], got {self.resolution}")
        for name, hi in LIMITS.items():
            _check_int(name, getattr(self, name), 1, hi)
        for name in ("mapping_lr_mul", "w_avg_beta"):
            v = getattr(self, name)
            if not is_number(v) or not 0 <= v <= 1:
                raise ConfigError(f"{name} must be a number in [0, 1], got {v!r}")
        if self.channel_base // self.resolution < 1:
            raise ConfigError(f"channel_base {self.channel_base} leaves no channels at {self.resolution} px "
                              f"(channels = channel_base // resolution); use at least {self.resolution}")
        if self.encoding not in ENCODINGS:
            raise ConfigError(f"encoding must be one of {ENCODINGS}, got {self.encoding!r}")
        if self.encoding != "none":
            self.heatmap.validate(self.resolution)
        if self.encoding == "sel_indoor" and self.heatmap.mode != "multi":
            raise ConfigError("encoding 'sel_indoor' needs heatmap.mode 'multi' (one style code per object)")

    @property
    def uses_heatmaps(self) -> bool:
        return self.encoding != "none"

    @property
    def num_codes(self) -> int:
        """Latent codes per image: one, or one per object plus a background code for SEL_indoor (Eq. 3)."""
        return self.heatmap.num_objects + 1 if self.encoding == "sel_indoor" else 1

    @property
    def block_resolutions(self) -> list[int]:
        return [2**i for i in range(2, int(math.log2(self.resolution)) + 1)]

    @property
    def num_ws(self) -> int:
        """Number of per-layer w vectors (w+): two per block, minus one for the 4x4 block, plus the last toRGB."""
        return 2 * int(math.log2(self.resolution)) - 2

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "GeneratorConfig":
        data = dict(data)
        heatmap = _from_dict(HeatmapConfig, data.pop("heatmap", {}), "heatmap")
        return _from_dict(cls, {**data, "heatmap": heatmap}, "generator")


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Residual StyleGAN2 discriminator."""

    resolution: int = 256
    channel_base: int = 16384
    channel_max: int = 512
    img_channels: int = 3
    mbstd_group: int = 4  # minibatch-stddev group size (clipped to the batch)

    def __post_init__(self) -> None:
        _check_int("discriminator resolution", self.resolution, 1, 1024)
        if not _is_pow2(self.resolution) or not 32 <= self.resolution <= 1024:
            raise ConfigError(f"resolution must be a power of two in [32, 1024], got {self.resolution}")
        for name in ("channel_base", "channel_max", "img_channels", "mbstd_group"):
            _check_int(f"discriminator {name}", getattr(self, name), 1, LIMITS.get(name, 64))
        if self.channel_base // self.resolution < 1:
            raise ConfigError(f"discriminator channel_base {self.channel_base} leaves no channels at "
                              f"{self.resolution} px; use at least {self.resolution}")

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DiscriminatorConfig":
        return _from_dict(cls, data, "discriminator")


T = TypeVar("T")


def _from_dict(cls: type[T], data: Mapping[str, Any], where: str) -> T:
    """Build a frozen dataclass from JSON data, naming unknown or ill-typed fields in the error."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} config must be a JSON object, got {type(data).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"unknown field(s) in {where} config: {', '.join(unknown)}")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"bad {where} config: {exc}") from None


MAX_OBJECTS = 64  # centres per level / objects per scene; the models in the wild use 1-16
# Upper bounds of the architecture numbers, far above any model in the wild (StyleGAN3-R: channel_base 65536,
# channel_max 1024), so that a file asking for millions is refused before anything is allocated.
LIMITS = {"z_dim": 4096, "w_dim": 4096, "mapping_layers": 32, "channel_base": 1 << 18, "channel_max": 4096,
          "img_channels": 4, "sel_hidden": 1024, "heatmap_features": 1024}


def _check_int(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{name} must be a whole number in {lo}..{hi}, got {value!r}")


def _is_pow2(n: int) -> bool:
    return isinstance(n, int) and n > 0 and (n & (n - 1)) == 0


def preset(resolution: int, encoding: Encoding = "sel_norm", heatmap_mode: HeatmapMode | None = None
           ) -> tuple[GeneratorConfig, DiscriminatorConfig]:
    """The default configs (what `spatialgan-train` trains unless told otherwise).

    Up to 128 px they are the narrow recipe of the bundled pets64 and rooms64: channels up to 64, w_dim 256,
    4 mapping layers. The bundled 128 px models, trained with channels up to 256, steer less than the narrow
    64 px ones; at 32 px and 16 kimg four seeds of each width steered alike (docs/measurements.md), so the
    reason to stay narrow is speed: it renders the 64 px models in 11-17 ms on 2 CPU cores. 256 px keeps
    channels up to 256 (the paper's resolution, narrower than its paper256 config); larger sizes use StyleGAN2's
    widths.
    """
    if heatmap_mode is None:
        heatmap_mode = "multi" if encoding == "sel_indoor" else "hierarchical"
    narrow = (4096, 64, 256, 4)
    base, cmax, wdim, mapping = {32: (2048, 64, 256, 4), 64: narrow, 128: narrow,
                                 256: (8192, 256, 256, 8)}.get(resolution, (16384, 512, 512, 8))
    g = GeneratorConfig(resolution=resolution, z_dim=wdim, w_dim=wdim, mapping_layers=mapping, channel_base=base,
                        channel_max=cmax, encoding=encoding,
                        heatmap=HeatmapConfig(mode=heatmap_mode))
    d = DiscriminatorConfig(resolution=resolution, channel_base=base, channel_max=cmax)
    return g, d
