"""Every training setting in one frozen dataclass, saved with the run as train_config.json."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..config import DiscriminatorConfig, Encoding, GeneratorConfig, HeatmapMode, _from_dict, preset
from ..encoding import SEL_GAIN
from ..errors import ConfigError
from ..gradcam import CAM_SCORES, CamScore
from ..research import ConstInput, HeatmapSampling, Variant


@dataclass(frozen=True)
class TrainConfig:
    data: str = "rooms"  # "rooms", "pets" (procedural, made by the project) or a folder / zip of images
    resolution: int = 64
    encoding: Encoding = "sel_norm"  # "none" trains the plain StyleGAN2 baseline
    heatmap_mode: HeatmapMode | None = None  # default: multi for sel_indoor, else hierarchical
    heatmap_sampling: HeatmapSampling = "paper"  # "independent" / "noise": the Table IV ablations
    align: bool = True  # L_align (Eq. 4), or L_align_indoor (Eq. 5) for multi-object heatmaps
    # Which target the alignment uses: "auto" is Eq. 5 (min over objects) for multi-object heatmaps and Eq. 4
    # (their sum) otherwise; "sum" forces Eq. 4, as in Table I's rows before "+ L_align_indoor".
    align_target: Literal["auto", "sum", "indoor"] = "auto"
    align_weight: float = 1.0
    cam_score: CamScore = "g_loss"  # what GradCAM differentiates, see gradcam.CamScore
    # Our move-consistency loss (not in the paper; losses.move_consistency): 0 keeps the paper's recipe.
    move_weight: float = 0.0
    # Images per G step and process it is computed on (two extra G passes each, one with gradients); so with the
    # move loss, runs on different numbers of processes no longer repeat the same computation.
    move_batch: int = 8
    align_tau: float = 0.25
    batch: int = 16  # global batch, split over processes
    g_lr: float = 0.0025
    d_lr: float = 0.0025
    betas: tuple[float, float] = (0.0, 0.99)
    r1_gamma: float | None = None  # None: StyleGAN2-ADA's heuristic 0.0002 * resolution^2 / batch
    r1_interval: int = 16  # lazy R1: every 16 D steps, scaled up accordingly
    ema_kimg: float | None = None  # None: batch * 10 / 32 (StyleGAN2-ADA)
    ema_rampup: float = 0.05
    style_mixing: float = 0.9  # probability of mixing two latents at a random layer
    noise_mode: str = "random"  # per-pixel noise while training ("const" makes runs comparable in tests)
    total_kimg: float = 200.0  # thousands of real images shown to D
    seed: int = 0
    # bfloat16 autocast of the main G/D passes on CUDA or the CPU; regularisers stay in float32. A speed setting,
    # so a resumed run may change it (bench/cpu_speed.py measures it on the CPU).
    amp: bool = False
    workers: int = 2  # data-loading processes per training process
    snapshot_kimg: float = 4.0
    sample_kimg: float = 4.0
    log_steps: int = 10
    # Architecture overrides on top of `preset(resolution, encoding)`; None keeps the preset's value.
    channel_base: int | None = None
    channel_max: int | None = None
    w_dim: int | None = None
    mapping_layers: int | None = None
    sel_hidden: int | None = None
    heatmap_features: int | None = None
    mbstd_group: int | None = None
    # Research variants of the generator (`spatialgan.research.Variant`); a branch may flatten the 4x4 input.
    const_input: ConstInput = "learned"
    sel_residual_gain: float | None = None  # SEL_norm / SEL_concat's residual gain; None: EqGAN-SA's 0.1

    def __post_init__(self) -> None:
        self._check_numbers()
        if self.batch < 1:
            raise ConfigError(f"batch must be >= 1, got {self.batch}")
        for name in ("g_lr", "d_lr", "total_kimg", "snapshot_kimg", "sample_kimg"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ConfigError(f"{name} must be a positive number, got {v!r}")
        if self.r1_interval < 1 or self.log_steps < 1 or self.workers < 0:
            raise ConfigError("r1_interval and log_steps must be >= 1 and workers >= 0")
        if self.noise_mode not in ("random", "const", "none"):
            raise ConfigError(f"noise_mode must be random, const or none, got {self.noise_mode!r}")
        if not 0 <= self.style_mixing <= 1:
            raise ConfigError(f"style_mixing must be a probability, got {self.style_mixing}")
        if self.align and self.encoding == "none":
            raise ConfigError("alignment needs heatmaps: use --no-align with encoding 'none' (the baseline)")
        if self.align and self.heatmap_sampling == "noise":
            raise ConfigError("noise maps give L_align nothing to align to: use --no-align with --heatmap-sampling noise")
        if not (math.isfinite(self.move_weight) and self.move_weight >= 0) or self.move_batch < 1:
            raise ConfigError(f"move_weight must be >= 0 and move_batch >= 1, got {self.move_weight}, {self.move_batch}")
        if self.move_weight > 0 and self.encoding == "none":
            raise ConfigError("the move loss moves heatmaps: encoding 'none' has none")
        if self.cam_score not in CAM_SCORES:
            raise ConfigError(f"cam_score must be one of {', '.join(CAM_SCORES)}, got {self.cam_score!r}")
        if self.align_target not in ("auto", "sum", "indoor"):
            raise ConfigError(f"align_target must be auto, sum or indoor, got {self.align_target!r}")
        self.model_configs()  # validates the architecture early, with the field named
        self.variant().check(self.model_configs()[0])

    def _check_numbers(self) -> None:
        """Every number finite and of its kind, in a sane range: a NaN learning rate or EMA length would train
        for hours and export a model of NaNs."""
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is None or isinstance(v, (str, tuple)):
                continue
            if isinstance(v, bool) != (f.type in ("bool",)):
                raise ConfigError(f"{f.name} must be {'true or false' if f.type == 'bool' else 'a number'}, got {v!r}")
            if "int" in str(f.type) and "float" not in str(f.type) and not isinstance(v, int):
                raise ConfigError(f"{f.name} must be a whole number, got {v!r}")
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(f"{f.name} must be a finite number, got {v!r}")
        for name in ("align_weight", "align_tau", "r1_gamma", "ema_kimg", "ema_rampup", "sel_residual_gain"):
            v = getattr(self, name)
            if v is not None and v < 0 or (name in ("align_tau", "ema_kimg") and v is not None and v <= 0):
                raise ConfigError(f"{name} must be {'> 0' if name in ('align_tau', 'ema_kimg') else '>= 0'}, "
                                  f"got {v}")
        if len(self.betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in self.betas):
            raise ConfigError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        for name, hi in (("batch", 4096), ("move_batch", 4096), ("workers", 64), ("seed", 2 ** 31 - 1),
                         ("r1_interval", 10 ** 6), ("log_steps", 10 ** 6)):
            if not 0 <= getattr(self, name) <= hi:
                raise ConfigError(f"{name} must be in 0..{hi}, got {getattr(self, name)}")
        if self.total_kimg > 10 ** 6:
            raise ConfigError(f"total_kimg must be at most 1000000 (a billion images), got {self.total_kimg}")

    @property
    def gamma(self) -> float:
        return self.r1_gamma if self.r1_gamma is not None else 0.0002 * self.resolution**2 / self.batch

    @property
    def ema_images(self) -> float:
        kimg = self.ema_kimg if self.ema_kimg is not None else self.batch * 10 / 32
        return kimg * 1000

    @property
    def total_steps(self) -> int:
        return max(1, math.ceil(self.total_kimg * 1000 / self.batch))

    @property
    def align_indoor(self) -> bool:
        """Whether the alignment takes Eq. 5's minimum over objects rather than Eq. 4's sum."""
        if self.align_target == "auto":
            return self.model_configs()[0].heatmap.mode == "multi"
        return self.align_target == "indoor"

    def steps_for(self, kimg: float) -> int:
        return max(1, round(kimg * 1000 / self.batch))

    def variant(self) -> Variant:
        """How the generator differs from the product's (`spatialgan.research`); the default for the paper."""
        gain = self.sel_residual_gain if self.sel_residual_gain is not None else SEL_GAIN
        return Variant(self.heatmap_sampling, self.const_input, gain)

    def model_configs(self) -> tuple[GeneratorConfig, DiscriminatorConfig]:
        g, d = preset(self.resolution, self.encoding, self.heatmap_mode)
        g_over = {k: getattr(self, k) for k in ("channel_base", "channel_max", "w_dim", "mapping_layers",
                                                 "sel_hidden", "heatmap_features")
                  if getattr(self, k) is not None}
        if "w_dim" in g_over:
            g_over["z_dim"] = g_over["w_dim"]
        d_over = {k: getattr(self, k) for k in ("channel_base", "channel_max", "mbstd_group")
                  if getattr(self, k) is not None}
        return dataclasses.replace(g, **g_over), dataclasses.replace(d, **d_over)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        return _from_dict(cls, data, "training")

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read training config {path}: {exc}") from None
