"""DragGAN-style point editing on SpatialGAN models (paper Sec. 3.4).

`DragSession(G, ws, spec, handles, targets, mask, DragConfig(mode=...))` with `step() -> StepResult`, plus
the pure functions `motion_loss` and `track_points`. Depends on `spatialgan` only, never on `app`.
"""

from .config import DragConfig, MODES
from .motion import motion_loss, sample_features, track_points
from .session import DragError, DragSession, StepResult, coarse_move

__all__ = ["DragConfig", "DragError", "DragSession", "MODES", "StepResult", "coarse_move", "motion_loss",
           "sample_features", "track_points"]
