"""Training SpatialGAN: config, resumable loop (one process, or many through torchrun), snapshots."""

from .config import TrainConfig
from .loop import Trainer, TrainingStopped

__all__ = ["TrainConfig", "Trainer", "TrainingStopped"]
