"""The editable heatmap specification: what the editor shows, the user drags and a session file stores.

Level-0 (and multi-object) centres are absolute; a child's (x, y) is its offset from its parent, so moving a
parent moves its whole sub-tree (paper Sec. 4.1: "if the center at level 0 shifts, the heatmaps at other
levels will adjust accordingly").
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch

from ..config import GeneratorConfig
from ..limits import is_number
from ..errors import HeatmapSpecError
from ..files import FileError, parse_json
from .batch import HeatmapBatch, HeatmapLevel

# A centre may sit outside the image (a half-visible object) but not this far: beyond it the Gaussian no
# longer touches the image and the edit is almost certainly a mistake.
MAX_OUTSIDE = 0.5
MAX_SIGMA = 2.0
MAX_LEVELS = 8  # as GeneratorConfig allows (spatialgan.config)
MAX_CENTRES = 64 * 8  # per level: up to 64 objects with 8 children each
MAX_WEIGHT = 4.0  # amplitude of a centre: 1 is what models were trained on, 0 removes the object
SPEC_VERSION = 1
# Specs saved before homes moved to the edit held each object's home here; it is read by the session loader
# (`app.state`) and ignored by the spec.
LEGACY_HOME = "home"


@dataclass
class Centre:
    """One Gaussian sub-map H_i ~ N(c_i, sigma_i^2 I) (Eq. 1)."""

    x: float  # absolute for roots, offset from the parent for children (image units)
    y: float
    sigma: float  # standard deviation in image units
    weight: float = 1.0  # amplitude; 0 removes the object, 1 is what the model was trained on
    enabled: bool = True  # off removes the object but keeps its weight for restoring it
    parent: int | None = None  # index of the parent in the previous level (hierarchical mode)


@dataclass
class HeatmapSpec:
    """An explicit heatmap for one image: `levels` holds one list of centres per encoded level
    (hierarchical) or a single list of objects (multi)."""

    mode: str
    levels: list[list[Centre]] = field(default_factory=list)

    # ---- geometry -------------------------------------------------------------------------------------
    def absolute(self, level: int, index: int) -> tuple[float, float]:
        """Absolute image position of a centre, following parent links."""
        c = self.levels[level][index]
        if c.parent is None or level == 0:
            return c.x, c.y
        px, py = self.absolute(level - 1, c.parent)
        return px + c.x, py + c.y

    def move_to(self, level: int, index: int, x: float, y: float) -> None:
        """Place a centre at an absolute position; its children follow because they are stored relative."""
        c = self.levels[level][index]
        if c.parent is None or level == 0:
            c.x, c.y = float(x), float(y)
        else:
            px, py = self.absolute(level - 1, c.parent)
            c.x, c.y = float(x) - px, float(y) - py

    def move_by(self, level: int, index: int, dx: float, dy: float) -> None:
        x, y = self.absolute(level, index)
        self.move_to(level, index, x + dx, y + dy)

    def subtree(self, level: int, index: int) -> list[tuple[int, int]]:
        """(level, index) of a centre and of all its descendants, coarse to fine: in hierarchical mode one
        object is a root with its sub-tree; in multi mode each object is a single centre."""
        found = [(level, index)]
        frontier = {index}
        for lv in range(level + 1, len(self.levels)) if self.mode == "hierarchical" else ():
            frontier = {i for i, c in enumerate(self.levels[lv]) if c.parent in frontier}
            found += [(lv, i) for i in sorted(frontier)]
        return found

    def set_enabled(self, level: int, index: int, enabled: bool) -> None:
        """Remove (False) or restore (True) a centre with its whole sub-tree; weights are kept for restoring.
        The finer levels alone still draw the object (bundled pets64: removing the root changes the image by
        a mean of 0.02, removing its sub-tree by 0.15), so a removal takes them too."""
        for lv, i in self.subtree(level, index):
            self.levels[lv][i].enabled = bool(enabled)

    def object_places(self) -> list[tuple[float, float]]:
        """Where each object (a level-0 centre, in either mode) is, absolute image units."""
        return [self.absolute(0, i) for i in range(len(self.levels[0]))]

    def copy(self) -> "HeatmapSpec":
        return HeatmapSpec.from_dict(self.to_dict())

    # ---- validation -----------------------------------------------------------------------------------
    def validate(self, config: GeneratorConfig | None = None) -> None:
        """Raise `HeatmapSpecError` naming the first bad field; with `config`, also check fit to the model."""
        if self.mode not in ("hierarchical", "multi"):
            raise HeatmapSpecError(f"mode must be 'hierarchical' or 'multi', got {self.mode!r}")
        if not self.levels:
            raise HeatmapSpecError("levels is empty: a heatmap needs at least one centre")
        if self.mode == "multi" and len(self.levels) != 1:
            raise HeatmapSpecError(f"a multi-object heatmap has exactly one level, got {len(self.levels)}")
        for li, level in enumerate(self.levels):
            if not level:
                raise HeatmapSpecError(f"levels[{li}] has no centres")
            for ci, c in enumerate(level):
                where = f"levels[{li}][{ci}]"
                for name in ("x", "y", "sigma", "weight"):
                    v = getattr(c, name)
                    if not is_number(v):
                        raise HeatmapSpecError(f"{where}.{name} must be a finite number, got {v!r}")
                if not c.sigma > 0:
                    raise HeatmapSpecError(f"{where}.sigma must be > 0, got {c.sigma}")
                if c.sigma > MAX_SIGMA:
                    raise HeatmapSpecError(f"{where}.sigma must be <= {MAX_SIGMA} image sizes, got {c.sigma}")
                if not isinstance(c.enabled, bool):
                    raise HeatmapSpecError(f"{where}.enabled must be true or false, got {c.enabled!r}")
                if not 0 <= c.weight <= MAX_WEIGHT:
                    raise HeatmapSpecError(f"{where}.weight must be in [0, {MAX_WEIGHT}], got {c.weight}")
                if li == 0 or self.mode == "multi":
                    if c.parent is not None:
                        raise HeatmapSpecError(f"{where}.parent must be null at the top level, got {c.parent}")
                elif (isinstance(c.parent, bool) or not isinstance(c.parent, int)
                      or not 0 <= c.parent < len(self.levels[li - 1])):
                    raise HeatmapSpecError(
                        f"{where}.parent must index levels[{li - 1}] (0..{len(self.levels[li - 1]) - 1}), "
                        f"got {c.parent!r}")
                x, y = self.absolute(li, ci)
                lo, hi = -MAX_OUTSIDE, 1 + MAX_OUTSIDE
                if not (lo <= x <= hi and lo <= y <= hi):
                    raise HeatmapSpecError(
                        f"{where} lies at ({x:.3f}, {y:.3f}), too far outside the image "
                        f"(allowed: {lo} to {hi} in image units)")
        if config is not None:
            self._validate_for(config)

    def _validate_for(self, config: GeneratorConfig) -> None:
        if not config.uses_heatmaps:
            raise HeatmapSpecError("this model has no spatial encoding (encoding 'none'): it takes no heatmap")
        hm = config.heatmap
        if self.mode != hm.mode:
            raise HeatmapSpecError(f"mode is {self.mode!r} but the model was trained with {hm.mode!r} heatmaps")
        if self.mode == "hierarchical":
            if len(self.levels) != len(hm.levels):
                raise HeatmapSpecError(
                    f"levels has {len(self.levels)} entries but the model encodes {len(hm.levels)} levels "
                    f"{tuple(hm.levels)}")
            for li, (level, n) in enumerate(zip(self.levels, hm.centres_per_level)):
                if len(level) != n:
                    raise HeatmapSpecError(
                        f"levels[{li}] has {len(level)} centres but the model was trained with {n}")
        else:
            n = len(self.levels[0])
            if config.encoding == "sel_indoor" and n != hm.num_objects:
                raise HeatmapSpecError(
                    f"levels[0] has {n} objects but the model has {hm.num_objects} per-object style codes")

    # ---- tensors --------------------------------------------------------------------------------------
    def to_batch(self, device: torch.device | str = "cpu") -> HeatmapBatch:
        """Batch of one with absolute centres; `enabled=False` becomes weight 0."""
        self.validate()
        levels = []
        for li, level in enumerate(self.levels):
            centres = torch.tensor([[self.absolute(li, i) for i in range(len(level))]], dtype=torch.float32)
            sigmas = torch.tensor([[c.sigma for c in level]], dtype=torch.float32)
            weights = torch.tensor([[c.weight if c.enabled else 0.0 for c in level]], dtype=torch.float32)
            levels.append(HeatmapLevel(centres, sigmas, weights))
        parents = [[c.parent for c in level] for level in self.levels]
        return HeatmapBatch(self.mode, levels, parents).to(device)

    @classmethod
    def from_batch(cls, batch: HeatmapBatch, index: int = 0) -> "HeatmapSpec":
        """Spec of one batch element (children converted back to offsets from their parents)."""
        spec = cls(batch.mode, [])
        for li, (level, parents) in enumerate(zip(batch.levels, batch.parents)):
            centres = level.centres[index].detach().cpu().tolist()
            sigmas = level.sigmas[index].detach().cpu().tolist()
            weights = level.weights[index].detach().cpu().tolist()
            row = []
            for (x, y), s, w, p in zip(centres, sigmas, weights, parents):
                if p is not None and li > 0:
                    px, py = spec.absolute(li - 1, p)
                    x, y = x - px, y - py
                row.append(Centre(x=x, y=y, sigma=s, weight=w, parent=p))
            spec.levels.append(row)
        return spec

    # ---- JSON -----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"version": SPEC_VERSION, "mode": self.mode,
                "levels": [[asdict(c) for c in level] for level in self.levels]}

    @classmethod
    def from_dict(cls, data: Any) -> "HeatmapSpec":
        if not isinstance(data, dict):
            raise HeatmapSpecError(f"a heatmap spec must be a JSON object, got {type(data).__name__}")
        if data.get("version", SPEC_VERSION) != SPEC_VERSION:
            raise HeatmapSpecError(f"version {data.get('version')!r} is not supported (expected {SPEC_VERSION})")
        levels = data.get("levels")
        if not isinstance(levels, list) or not all(isinstance(lv, list) for lv in levels):
            raise HeatmapSpecError("levels must be a list of lists of centres")
        if len(levels) > MAX_LEVELS or any(len(lv) > MAX_CENTRES for lv in levels):
            raise HeatmapSpecError(f"a heatmap has at most {MAX_LEVELS} levels of at most {MAX_CENTRES} centres; "
                                   f"this one has {len(levels)} levels of up to {max(map(len, levels))}")
        allowed = set(Centre.__dataclass_fields__) | {LEGACY_HOME}
        rows: list[list[Centre]] = []
        for li, level in enumerate(levels):
            row = []
            for ci, c in enumerate(level):
                where = f"levels[{li}][{ci}]"
                if not isinstance(c, dict):
                    raise HeatmapSpecError(f"{where} must be an object with x, y, sigma")
                missing = {"x", "y", "sigma"} - set(c)
                if missing:
                    raise HeatmapSpecError(f"{where} is missing {', '.join(sorted(missing))}")
                extra = set(c) - allowed
                if extra:
                    raise HeatmapSpecError(f"{where} has unknown field(s) {', '.join(sorted(extra))}")
                row.append(Centre(**{k: v for k, v in c.items() if k != LEGACY_HOME}))
            rows.append(row)
        spec = cls(mode=data.get("mode", ""), levels=rows)
        spec.validate()
        return spec

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> "HeatmapSpec":
        try:
            data = parse_json(text, "the heatmap spec")
        except FileError as exc:
            raise HeatmapSpecError(str(exc)) from None
        return cls.from_dict(data)


def specs_from_batch(batch: HeatmapBatch) -> Sequence[HeatmapSpec]:
    return [HeatmapSpec.from_batch(batch, i) for i in range(batch.batch_size)]
