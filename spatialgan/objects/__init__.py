"""Objects found in a model's own features, for models without heatmaps (and with them): cluster the per-pixel
features of a coarse block once per model (`clusters`), pick an object in a picture by clicking one of its clusters
(`selection`), and move or remove it by editing the features of one coarse block (`edit`), which the finer blocks
then redraw around it.
"""

from .clusters import ObjectClusters, cached_clusters, cluster_block, fit_clusters, label_maps
from .edit import EditHook, ObjectEdit, apply_edits, edit_block, fill_from_surroundings, flexible_area, region_handles
from .selection import Selection, component, middle_pixel

__all__ = ["ObjectClusters", "cached_clusters", "cluster_block", "fit_clusters", "label_maps", "EditHook",
           "ObjectEdit", "apply_edits", "edit_block", "fill_from_surroundings", "flexible_area", "region_handles",
           "Selection", "component", "middle_pixel"]
