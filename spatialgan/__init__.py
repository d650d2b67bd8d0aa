"""SpatialGAN: a StyleGAN2 generator steered by Gaussian heatmaps, aligned with its discriminator's attention.

Importing this package needs neither a GPU nor any GUI package.
"""

from .checkpoint import Checkpoint, CheckpointInfo, load_checkpoint, load_generator, read_info, save_checkpoint
from .config import DiscriminatorConfig, GeneratorConfig, HeatmapConfig, preset
from .device import pick_device
from .discriminator import Discriminator, DiscriminatorOutput, build_discriminator
from .errors import CheckpointError, ConfigError, HeatmapSpecError, SpatialGANError
from .generator import Generator, SynthesisOutput, build_generator, replace_code, resample_code
from .gradcam import gradcam
from .heatmaps import Centre, HeatmapBatch, HeatmapSpec, sample_heatmaps
from .loading import load, load_discriminator
from .losses import alignment_loss, d_logistic, g_nonsaturating, r1_penalty
from .render import RenderOutput, render

__version__ = "0.1.0"

__all__ = [
    "Centre", "Checkpoint", "CheckpointError", "CheckpointInfo", "ConfigError", "Discriminator",
    "DiscriminatorConfig", "DiscriminatorOutput", "Generator", "GeneratorConfig", "HeatmapBatch", "HeatmapConfig",
    "HeatmapSpec", "HeatmapSpecError", "SpatialGANError", "SynthesisOutput", "alignment_loss", "build_discriminator",
    "build_generator", "d_logistic", "g_nonsaturating", "gradcam", "load", "load_checkpoint", "load_discriminator",
    "load_generator",
    "pick_device", "preset", "r1_penalty", "read_info", "render", "RenderOutput", "replace_code", "resample_code",
    "sample_heatmaps", "save_checkpoint",
]
