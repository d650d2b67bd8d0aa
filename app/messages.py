"""What the GUI and the model worker say to each other about pictures: plain dataclasses of numbers and numpy
arrays (long work reports through `app.jobs.JobProgress`).

The controller builds requests, `app.worker` answers them; every request carries a generation number, and the
worker keeps only the newest pending render, so a fast drag never queues renders. Nothing here runs the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spatialgan.heatmaps.spec import HeatmapSpec
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
    objects: bool = False  # whether objects can be selected and moved by their features (not on StyleGAN3)

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
class ObjectMove:
    """An object moved (or removed: `shift` None) by its features (`spatialgan.objects.ObjectEdit`): its region on
    the model's cluster grid and the drag in image units."""

    mask: np.ndarray  # (r, r) bool
    shift: tuple[float, float] | None


@dataclass(frozen=True)
class RenderRequest:
    generation: int
    latent: LatentSpec
    # the layout, a copy the GUI no longer touches (checked by the model's check_layout where it is drawn); None
    # for models without heatmaps
    spec: HeatmapSpec | None
    # each object's home (x, y): moved objects keep the look they have there; None redraws them where they go
    homes: tuple[Point, ...] | None = None
    draft: int | None = None  # render only up to this block resolution (a preview while a gesture goes on)
    attention: bool = False  # also compute where the discriminator looks (GradCAM) on the full picture
    objects: tuple[ObjectMove, ...] = ()  # objects moved or removed, in order
    object_map: bool = False  # also compute the picture's cluster map (the object tool's clicks select on it)


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
    object_map: "ObjectMap | None" = None  # when the request asked for it
    object_error: str = ""  # why there is no cluster map (the picture itself is fine)


@dataclass(frozen=True)
class ObjectMap:
    """A picture's cluster map (r, r) and which clusters are background (K,): what a click selects on."""

    labels: np.ndarray
    background: np.ndarray


@dataclass(frozen=True)
class ExportRequest:
    """Every state of the edit history (oldest first), to be rendered and written to `path` as a GIF or an MP4
    (`app.model_jobs.ExportHistory`)."""

    generation: int
    frames: tuple[RenderRequest, ...]
    path: str
    scale: int = 2  # nearest upscaling of the model's images
    ms_per_frame: int = 500


@dataclass
class LevelHint:
    """Which heatmap levels barely change the picture when a centre is dragged (hierarchical models; measured
    once per model by the worker when it is first idle). `error` is set instead if the measurement failed."""

    inert: tuple[bool, ...]  # per panel
    error: str = ""
