"""DragGAN hyperparameters (DragGAN, Pan et al. 2023; paper Sec. 3.4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from spatialgan.carry import DEFAULT_RESOLUTION as CARRY_RESOLUTION
from spatialgan.errors import ConfigError
from spatialgan.limits import is_number

Mode = Literal["draggan", "joint", "hybrid"]
MODES: tuple[str, ...] = ("draggan", "joint", "hybrid")
LATENTS: tuple[str, ...] = ("w+", "w")


@dataclass(frozen=True)
class DragConfig:
    mode: Mode = "hybrid"
    # Radii are given for a 512 px image (DragGAN's numbers) and scaled to the model's resolution.
    r1: float = 3.0  # motion supervision disc radius
    r2: float = 12.0  # point tracking search half-width
    lr: float = 2e-3  # Adam step on w (2e-3 faces/cats/cars, 1e-3 others)
    centre_lr: float = 4e-3  # Adam step on heatmap centres, image units
    # What the refine optimises: "w+" the first `free_layers` entries of w+ (DragGAN's choice; the rest stay at
    # w0), or "w" one vector shared by every layer (an offset to w0: w itself when w0 is one w repeated).
    latent: Literal["w+", "w"] = "w+"
    free_layers: int = 6
    mask_weight: float = 20.0  # lambda for keeping the area outside the flexible mask fixed
    feature_block: int | None = None  # synthesis block whose features drive the edit; None: resolution / 2
    stop_distance: float | None = None  # pixels; None: 1 for up to 5 points, else 2 (DragGAN)
    max_steps: int = 200
    hybrid_radius: float = 0.2  # coarse move: centres within this distance of a handle (image units) ...
    alpha: float = 1.0  # ... move by alpha * (t - p) (Eq. 6)
    # After the coarse move, find each handle again in the moved image (a search reaching from the handle to
    # where Eq. 6 would put it) instead of assuming the content moved the whole way: it follows a moved centre
    # only partly (docs/steering.md), and tracking that starts at the guess reports arrival when little moved.
    relocate: bool = True
    # Objects keep their look when their centres move (`spatialgan.carry`, as the editor renders them): the
    # block after which home features are blended in; None renders plainly. Clipped to the feature tap.
    carry_resolution: int | None = CARRY_RESOLUTION

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.latent not in LATENTS:
            raise ConfigError(f"latent must be one of {LATENTS}, got {self.latent!r}")
        for name in ("r1", "r2", "lr", "centre_lr", "max_steps", "free_layers"):
            v = getattr(self, name)
            if not (is_number(v) and v > 0):
                raise ConfigError(f"{name} must be a positive number, got {v!r}")
        for name in ("mask_weight", "hybrid_radius"):
            if not (is_number(getattr(self, name)) and getattr(self, name) >= 0):
                raise ConfigError(f"{name} must be a number >= 0, got {getattr(self, name)!r}")
        if not (is_number(self.alpha) and 0 <= self.alpha <= 2):
            raise ConfigError(f"alpha must be within [0, 2], got {self.alpha!r}")
        if self.stop_distance is not None and not (is_number(self.stop_distance) and self.stop_distance > 0):
            raise ConfigError(f"stop_distance must be a positive number of pixels, got {self.stop_distance!r}")
        if not isinstance(self.max_steps, int) or isinstance(self.max_steps, bool) or self.max_steps > 100_000:
            raise ConfigError(f"max_steps must be a whole number in 1..100000, got {self.max_steps!r}")
        r = self.carry_resolution
        if r is not None and (not isinstance(r, int) or isinstance(r, bool) or r < 4 or r & (r - 1)):
            raise ConfigError(f"carry_resolution must be a block resolution (a power of two, at least 4) or None, "
                              f"got {r!r}")

    def radius1(self, resolution: int) -> int:
        return max(1, round(self.r1 * resolution / 512))

    def radius2(self, resolution: int) -> int:
        return max(2, round(self.r2 * resolution / 512))

    def stop_at(self, n_points: int) -> float:
        return self.stop_distance if self.stop_distance is not None else (1.0 if n_points <= 5 else 2.0)
