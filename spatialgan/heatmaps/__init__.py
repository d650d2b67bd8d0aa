"""Gaussian heatmaps: editable specs, batched tensors, samplers and renderers (paper Sec. 3.2)."""

from .batch import HeatmapBatch, HeatmapLevel
from .render import combine, render_heatmaps, render_level
from .sampling import (HierarchicalSampling, MultiObjectSampling, sample_heatmaps, sample_hierarchical,
                       sample_multi_object)
from .spec import Centre, HeatmapSpec

__all__ = ["Centre", "HeatmapBatch", "HeatmapLevel", "HeatmapSpec", "HierarchicalSampling",
           "MultiObjectSampling", "combine", "render_heatmaps", "render_level", "sample_heatmaps",
           "sample_hierarchical", "sample_multi_object"]
