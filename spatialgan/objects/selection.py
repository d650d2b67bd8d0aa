"""Selecting an object by clicking it. The first click selects the object under it: the connected region of
everything that is not background (`clusters.ObjectClusters.background`) around the clicked pixel. A click on
background within `REACH` of an object selects that object (an outline pixel of a pet may be read as background);
farther away it selects the connected region of the clicked cluster (`Selection.on_object` says which happened). Later
clicks grow or shrink the selection by cluster: a click outside it adds the connected region of the clicked cluster, a
click inside takes that region away."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import SpatialGANError

REACH = 1 / 16  # image units: a first click this close to an object selects it


def component(labels: np.ndarray, y: int, x: int) -> np.ndarray:
    """The 4-connected region (bool, like `labels`) of the pixel (y, x)'s label."""
    h, w = labels.shape
    lab = labels[y, x]
    mask = np.zeros((h, w), bool)
    mask[y, x] = True
    queue = deque([(y, x)])
    while queue:
        cy, cx = queue.popleft()
        for ny, nx in ((cy - 1, cx), (cy + 1, cx), (cy, cx - 1), (cy, cx + 1)):
            if 0 <= ny < h and 0 <= nx < w and not mask[ny, nx] and labels[ny, nx] == lab:
                mask[ny, nx] = True
                queue.append((ny, nx))
    return mask


def middle_pixel(mask: np.ndarray) -> tuple[float, float] | None:
    """The pixel of `mask` (r, r) bool nearest its centroid, as (x, y) image units at the pixel's centre (where a
    click surely lands on the region, even on a ring or a crescent); None for an empty mask."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    k = int(np.argmin((xs - xs.mean()) ** 2 + (ys - ys.mean()) ** 2))
    return (xs[k] + 0.5) / mask.shape[1], (ys[k] + 0.5) / mask.shape[0]


@dataclass(frozen=True)
class Selection:
    """A selected region on a picture's cluster map `labels` (r, r): `mask` (r, r) bool; `background` (K,) bool
    marks the background clusters."""

    labels: np.ndarray
    background: np.ndarray
    mask: np.ndarray

    @staticmethod
    def empty(labels: np.ndarray | torch.Tensor, background: np.ndarray | torch.Tensor) -> "Selection":
        lab = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
        bg = background.cpu().numpy() if isinstance(background, torch.Tensor) else np.asarray(background)
        if lab.ndim != 2 or lab.shape[0] != lab.shape[1]:
            raise SpatialGANError(f"a cluster map must be square (r, r), got {lab.shape}")
        if bg.ndim != 1 or lab.size and int(lab.max()) >= len(bg):
            raise SpatialGANError(f"the cluster map has labels beyond the {len(bg)} clusters")
        return Selection(lab, bg.astype(bool), np.zeros(lab.shape, bool))

    def _cell(self, x: float, y: float) -> tuple[int, int]:
        """The map pixel under (x, y) in image units (0..1, as the editor's heatmap centres)."""
        if not (np.isfinite(x) and np.isfinite(y) and 0 <= x <= 1 and 0 <= y <= 1):
            raise SpatialGANError(f"click ({x}, {y}) lies outside the picture (0..1)")
        r = self.labels.shape[0]
        return min(int(y * r), r - 1), min(int(x * r), r - 1)

    def click(self, x: float, y: float) -> "Selection":
        """The selection after a click at (x, y) (image units): see the module docstring."""
        cy, cx = self._cell(x, y)
        objects = self.objects
        near = self._nearest(objects, cy, cx) if self.is_empty else None
        region = component(objects.astype(np.int8), *near) if near is not None else component(self.labels, cy, cx)
        mask = self.mask & ~region if self.mask[cy, cx] else self.mask | region
        return Selection(self.labels, self.background, mask)

    @staticmethod
    def _nearest(objects: np.ndarray, cy: int, cx: int) -> tuple[int, int] | None:
        """The object pixel nearest (cy, cx) within `REACH`, or None."""
        ys, xs = np.nonzero(objects)
        if len(ys) == 0:
            return None
        d2 = (ys - cy) ** 2 + (xs - cx) ** 2
        k = int(np.argmin(d2))
        return (int(ys[k]), int(xs[k])) if d2[k] <= (REACH * objects.shape[0]) ** 2 else None

    def object_at(self, x: float, y: float) -> "Selection":
        """A new selection of the object under (x, y), as a first click makes it."""
        return Selection(self.labels, self.background, np.zeros_like(self.mask)).click(x, y)

    @property
    def objects(self) -> np.ndarray:
        """(r, r) bool: the map's pixels of object clusters (all objects, selected or not)."""
        return ~self.background[self.labels]

    def middle_of_objects(self) -> tuple[float, float] | None:
        """Where a user would click the picture's object: the object pixel nearest the middle of all of them
        (`middle_pixel`), or None where the map has no object."""
        return middle_pixel(self.objects)

    @property
    def on_object(self) -> bool:
        """Whether the selection holds object pixels; False where a first click far from every object took the
        clicked background cluster's region (the user may mean a piece of wall, but should be told)."""
        return bool((self.mask & self.objects).any())

    @property
    def is_empty(self) -> bool:
        return not bool(self.mask.any())

    def contains(self, x: float, y: float) -> bool:
        cy, cx = self._cell(x, y)
        return bool(self.mask[cy, cx])

    def at(self, size: int) -> np.ndarray:
        """The selection as a bool (size, size) mask of the picture (nearest pixels of the map)."""
        t = torch.from_numpy(self.mask.astype(np.float32))[None, None]
        return F.interpolate(t, size=(size, size), mode="nearest")[0, 0].numpy() > 0.5

    def outline(self, size: int) -> np.ndarray:
        """Bool (size, size): the selection's boundary pixels, for drawing it over the picture."""
        m = self.at(size)
        inner = m.copy()
        inner[1:] &= m[:-1]
        inner[:-1] &= m[1:]
        inner[:, 1:] &= m[:, :-1]
        inner[:, :-1] &= m[:, 1:]
        return m & ~inner
