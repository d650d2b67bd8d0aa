"""What the GUI and the model worker say to each other: plain dataclasses of numbers and numpy arrays.

No torch here (the GUI never imports it): the controller builds requests, `app.worker` answers them. Every request carries a
generation number; the worker keeps only the newest pending render, so a fast drag never queues renders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spatialgan.model import Capabilities

Point = tuple[float, float]


@dataclass(frozen=True)
class ModelInfo:
    """What the view needs to know about the loaded model to lay itself out: its capabilities, never its
    architecture."""

    source: str  # checkpoint path or "untrained ..." description
    device: str
    capabilities: Capabilities
    discriminator: str = ""  # the file the model's discriminator can be read from (GradCAM); "" when none can

    @property
    def resolution(self) -> int:
        return self.capabilities.resolution

    @property
    def num_codes(self) -> int:
        return self.capabilities.num_codes

    @property
    def has_heatmaps(self) -> bool:
        return self.capabilities.has_heatmaps


@dataclass(frozen=True)
class LatentSpec:
    """How to build w+: from `seed` and `psi`, or from a refined `ws_override`; then every code with a seed in
    `code_seeds` is replaced by a fresh latent from that seed ("replace object")."""

    seed: int
    psi: float
    code_seeds: tuple[int | None, ...] = ()
    ws_override: np.ndarray | None = None  # (1, K, num_ws, w_dim) float32, set after a DragGAN refine
    label: int | None = None  # the class of a conditional model


@dataclass(frozen=True)
class RenderRequest:
    generation: int
    latent: LatentSpec
    spec: dict[str, Any] | None  # HeatmapSpec.to_dict(), None for models without heatmaps
    # each object's home (x, y): moved objects keep the look they have there; None redraws them where they go
    homes: tuple[Point, ...] | None = None
    draft: int | None = None  # render only up to this block resolution (a preview while a gesture goes on)
    attention: bool = False  # also compute where the discriminator looks (GradCAM) on the full picture


@dataclass(frozen=True)
class RefineRequest:
    generation: int
    latent: LatentSpec
    spec: dict[str, Any] | None
    handles: tuple[Point, ...]  # pixels of the model's resolution
    targets: tuple[Point, ...]
    mask: np.ndarray | None = None  # (R, R) bool, True where the image may change
    mode: str = "draggan"
    lr: float = 2e-3
    max_steps: int = 200
    homes: tuple[Point, ...] | None = None  # as in RenderRequest
    optimise: str = "w+"  # what the refine optimises: "w+" (DragGAN's choice) or "w" (draggan.DragConfig.latent)


@dataclass
class RenderResult:
    generation: int
    image: np.ndarray | None  # (R, R, 3) uint8
    heatmaps: list[np.ndarray] = field(default_factory=list)  # per panel, (r, r) float32 in [0, 1]
    ms: float = 0.0  # time spent rendering this frame
    error: str = ""  # set instead of raising: the GUI shows it in the status line
    draft: bool = False  # a preview at a coarser resolution; the full picture follows
    attention: np.ndarray | None = None  # (R, R) float32 in [0, 1]: D's GradCAM, when the request asked for it
    attention_error: str = ""  # why no GradCAM could be computed (the picture itself is fine)


@dataclass
class RefineProgress:
    """One DragGAN step, or the final state when `done` (then `ws` and `spec` hold the edit to keep)."""

    generation: int
    step: int
    max_steps: int
    image: np.ndarray | None
    points: list[Point] = field(default_factory=list)  # tracked handle positions, pixels
    distances: list[float] = field(default_factory=list)
    done: bool = False
    cancelled: bool = False
    ms: float = 0.0
    error: str = ""
    ws: np.ndarray | None = None  # final w+ (only when done)
    spec: dict[str, Any] | None = None  # final heatmap spec (only when done)


@dataclass(frozen=True)
class ExportRequest:
    """Render every state of the edit history (oldest first) and write them to `path` as an animated GIF.
    The worker renders one frame at a time between interactive renders, so exporting never blocks editing."""

    generation: int
    frames: tuple[RenderRequest, ...]
    path: str
    scale: int = 2  # nearest upscaling of the model's images
    ms_per_frame: int = 500


@dataclass(frozen=True)
class InvertRequest:
    """Invert a photo into the model (`spatialgan.inversion`): latent, layout and tuned weights."""

    generation: int
    photo: str
    fit: str = "crop"
    steps: int = 100  # per stage


@dataclass
class InvertProgress:
    """One inversion step, or the result when `done` (then `ws`, `spec`, `homes` and `model_path`, the tuned weights
    the worker now draws with, hold the photo's edit)."""

    generation: int
    stage: str
    step: int  # steps done over all stages
    total: int
    loss: float = float("nan")
    eta_s: float = float("nan")
    done: bool = False
    cancelled: bool = False
    error: str = ""
    image: np.ndarray | None = None  # the reconstruction (when done)
    ws: np.ndarray | None = None
    spec: dict[str, Any] | None = None
    homes: list[Point] | None = None
    model_path: str = ""
    psnr: float = float("nan")


@dataclass
class LevelHint:
    """Which heatmap levels barely change the picture when a centre is dragged (hierarchical models; measured
    once per model by the worker when it is first idle). `error` is set instead if the measurement failed."""

    inert: tuple[bool, ...]  # per panel
    error: str = ""


@dataclass
class ExportProgress:
    generation: int
    rendered: int  # frames rendered so far
    total: int
    done: bool = False
    path: str = ""  # the written file (only when done without error)
    error: str = ""
