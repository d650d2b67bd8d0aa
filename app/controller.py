"""Editor actions as plain methods on `AppState`: testable without a display or a model.

Every edit goes through `_begin(key)`, which pushes an undo snapshot unless the previous edit had the same
key: a whole mouse drag or slider gesture is one undo step. After an edit `state.generation` is bumped and
`render_request()` describes the picture to render.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Hashable

import numpy as np

from spatialgan.errors import HeatmapSpecError
from spatialgan.limits import MAX_SEED
from spatialgan.heatmaps.spec import MAX_OUTSIDE, MAX_SIGMA, HeatmapSpec
from spatialgan.paths import cache_dir
from spatialgan.video import video_scale

from .export import check_history_path
from .messages import ExportRequest, RenderRequest
from .model_jobs import RefineInput
from .objects import ObjectEdits
from .sessions import SessionFiles
from .state import AppState, Edit, SessionError

MIN_SIGMA = 0.01
UNDO_LIMIT = 200


class Controller(SessionFiles, ObjectEdits):
    def __init__(self, state: AppState, spec_for_seed: Callable[[int], HeatmapSpec | None],
                 check_layout: Callable[[HeatmapSpec], None] | None = None) -> None:
        """spec_for_seed: the heatmap a model was trained on for a seed (the worker's `default_spec`);
        check_layout: raises when a heatmap does not fit the model (a session's is checked when it is read)."""
        self.state = state
        self.spec_for_seed = spec_for_seed
        self.check_layout = check_layout
        self._last_key: Hashable | None = None
        self._gesture = 0
        self.autosave_path = cache_dir() / "autosave.json"
        # The scene before any edit (a new seed, a loaded session, an inverted photo start one): what the
        # compare key shows in place of the current picture.
        self.original: Edit = state.edit.copy()

    @classmethod
    def create(cls, model_path: str, resolution: int, num_codes: int, seed: int, psi: float,
               spec_for_seed: Callable[[int], HeatmapSpec | None], check_layout: Callable[[HeatmapSpec], None],
               ws_shape: tuple[int, int]) -> "Controller":
        """An editor state for a model: sessions loaded into it are checked against the model's layout
        (`check_layout`) and its w+ shape (`ws_shape`: num_ws, w_dim) where they enter, not at the first render."""
        spec = spec_for_seed(seed)
        edit = Edit(seed=seed, psi=psi, code_seeds=[None] * num_codes, spec=spec,
                    homes=spec.object_places() if spec is not None else None)
        return cls(AppState(model_path, edit, resolution, num_codes, ws_shape=ws_shape), spec_for_seed, check_layout)

    @classmethod
    def for_worker(cls, worker: Any, seed: int, psi: float, model_path: str | None = None) -> "Controller":
        """`create` for the model a worker holds (`app.worker.Worker`: its info, default layouts and checks)."""
        info = worker.info
        caps = info.capabilities
        c = cls.create(model_path or info.source, info.resolution, info.num_codes, seed, psi, worker.default_spec,
                       worker.check_layout, (caps.num_ws, caps.w_dim))
        if not caps.moves_objects:  # no centres to move coarsely: DragGAN alone
            c.set_refine(mode="draggan")
        return c

    def original_request(self) -> RenderRequest:
        """The picture of the scene before all edits (the compare key shows it)."""
        return _render_request(-1, self.original)

    def _new_scene(self) -> None:
        self.original = self.state.edit.copy()

    # ---- undo -----------------------------------------------------------------------------------------
    def _begin(self, key: Hashable | None = None) -> Edit:
        """Snapshot before an edit (merged with the previous one when `key` repeats); returns the edit."""
        s = self.state
        if key is None or key != self._last_key:
            s.undo_stack.append(s.edit.copy())
            del s.undo_stack[:-UNDO_LIMIT]
        self._last_key = key
        s.redo_stack.clear()
        return s.edit

    def _changed(self) -> None:
        self.state.dirty = True
        self.state.generation += 1

    def new_gesture(self) -> int:
        """A new mouse-down: the next drag is a separate undo step even if it moves the same centre."""
        self._gesture += 1
        return self._gesture

    def undo(self) -> bool:
        s = self.state
        if not s.undo_stack:
            return False
        s.redo_stack.append(s.edit)
        s.edit = s.undo_stack.pop()
        self._last_key = None
        self._changed()
        return True

    def redo(self) -> bool:
        s = self.state
        if not s.redo_stack:
            return False
        s.undo_stack.append(s.edit)
        s.edit = s.redo_stack.pop()
        self._last_key = None
        self._changed()
        return True

    # ---- heatmap edits --------------------------------------------------------------------------------
    def _spec(self) -> HeatmapSpec:
        spec = self.state.edit.spec
        if spec is None:
            raise SessionError("this model has no heatmap centres to edit")
        return spec

    def centres(self) -> list[tuple[int, int, float, float, float, bool]]:
        """(level, index, x, y, sigma, enabled) of every centre, absolute image units."""
        spec = self.state.edit.spec
        if spec is None:
            return []
        return [(li, ci, *spec.absolute(li, ci), c.sigma, c.enabled)
                for li, level in enumerate(spec.levels) for ci, c in enumerate(level)]

    def select(self, level: int, index: int) -> None:
        self._spec().levels[level][index]  # IndexError for a bad centre
        self.state.selected = (level, index)

    def move_centre(self, level: int, index: int, x: float, y: float, gesture: int | None = None) -> None:
        """Place a centre (absolute image units); a level-0 centre carries its children (HeatmapSpec.move_to)."""
        self._spec()
        lo, hi = -MAX_OUTSIDE + 1e-3, 1 + MAX_OUTSIDE - 1e-3
        spec = self._begin(("move", level, index, gesture) if gesture is not None else None).spec
        assert spec is not None
        old = spec.absolute(level, index)
        spec.move_to(level, index, min(max(x, lo), hi), min(max(y, lo), hi))
        try:
            spec.validate()
        except HeatmapSpecError:
            # A child carried by its parent would leave the allowed area: stop at the last valid place.
            spec.move_to(level, index, *old)
        self.state.selected = (level, index)
        self._changed()

    def set_sigma(self, level: int, index: int, sigma: float) -> None:
        self._spec()
        spec = self._begin(("sigma", level, index)).spec
        assert spec is not None
        spec.levels[level][index].sigma = float(min(max(sigma, MIN_SIGMA), MAX_SIGMA))
        self._changed()

    def scale_sigmas(self, factor: float) -> None:
        """Scale every centre's sigma (the whole scene grows or shrinks)."""
        if not factor > 0:
            raise ValueError(f"factor must be > 0, got {factor}")
        self._spec()
        spec = self._begin(("scale",)).spec
        assert spec is not None
        for level in spec.levels:
            for c in level:
                c.sigma = float(min(max(c.sigma * factor, MIN_SIGMA), MAX_SIGMA))
        self._changed()

    def set_enabled(self, level: int, index: int, enabled: bool) -> None:
        """Remove (False) or restore (True) one object: the centre with its sub-tree (`HeatmapSpec.set_enabled`)."""
        self._spec()
        spec = self._begin().spec
        assert spec is not None
        spec.set_enabled(level, index, enabled)
        self._changed()

    # ---- latent edits ---------------------------------------------------------------------------------
    def resample_code(self, index: int, seed: int | None = None) -> int:
        """Give one style code (an object, or the background: the last code) a fresh latent; keep the rest."""
        n = self.state.num_codes
        if not 0 <= index < n:
            raise IndexError(f"code index {index} out of range for {n} codes")
        seed = random.randrange(2 ** 31) if seed is None else int(seed)
        self._begin().code_seeds[index] = seed
        self._changed()
        return seed

    def set_seed(self, seed: int, keep_layout: bool = False) -> None:
        """A new picture: new latent and (unless `keep_layout`) the model's heatmap for that seed."""
        e = self._begin()
        e.seed = min(max(0, int(seed)), MAX_SEED)  # the seed field holds 32-bit numbers
        e.code_seeds = [None] * self.state.num_codes
        e.ws_override = None
        if not keep_layout:
            e.spec = self.spec_for_seed(e.seed)
            e.homes = e.spec.object_places() if e.spec is not None else None  # where the seed put the objects
            self.state.selected = None
        e.handles, e.targets, e.objects = [], [], []
        self.state.selection = None
        self._changed()
        self._new_scene()

    def set_carry(self, carry: bool) -> None:
        """Moved objects keep the look they have at home (on), or the model redraws them wherever they go (off,
        the paper's way). Homes are where the seed put the objects."""
        self._begin().carry = bool(carry)
        self._changed()

    def set_label(self, label: int) -> None:
        """Draw the class `label` of a conditional model (the latent is drawn afresh for it)."""
        e = self._begin()
        e.label = int(label)
        e.ws_override = None  # a refined w+ was made for the old class
        self._changed()

    def set_psi(self, psi: float) -> None:
        e = self._begin(("psi",))
        e.psi = float(psi)
        e.ws_override = None  # a refined w+ was made at the old psi
        self._changed()

    # ---- DragGAN points -------------------------------------------------------------------------------
    def add_point(self, x: float, y: float) -> str:
        """Clicks alternate: handle, then its target. Pixels at the model's resolution. Returns which it was."""
        r = self.state.resolution - 1
        p = (float(min(max(x, 0), r)), float(min(max(y, 0), r)))
        e = self._begin()
        kind = "handle" if len(e.handles) == len(e.targets) else "target"
        (e.handles if kind == "handle" else e.targets).append(p)
        self._changed()
        return kind

    def clear_points(self) -> bool:
        """Remove every handle and target (one undo step); with no points it changes nothing, so the redo
        history is kept. Returns whether there was something to clear."""
        if not self.state.edit.handles and not self.state.edit.targets:
            return False
        e = self._begin()
        e.handles, e.targets = [], []
        self._changed()
        return True

    def set_mask(self, mask: np.ndarray | None) -> None:
        if mask is not None and mask.shape != (self.state.resolution,) * 2:
            raise ValueError(f"mask must be {self.state.resolution}x{self.state.resolution}")
        self._begin().mask = None if mask is None else mask.astype(bool)
        self._changed()

    def paint_mask(self, x: float, y: float, radius: float, value: bool = True, gesture: int | None = None) -> None:
        """Paint (value True) or erase a disc of the flexible-area mask at model pixel (x, y); one mouse stroke
        (same `gesture`) is one undo step. The mask starts empty: only what is painted may change in a refine
        (DragGAN's flexible area); erasing everything removes the mask, so the whole image is free again."""
        if not radius > 0:
            raise ValueError(f"brush radius must be > 0 pixels, got {radius}")
        r = self.state.resolution
        e = self._begin(("mask", gesture) if gesture is not None else None)
        yy, xx = np.mgrid[0:r, 0:r]
        disc = (xx - x) ** 2 + (yy - y) ** 2 <= radius ** 2
        mask = np.zeros((r, r), bool) if e.mask is None else e.mask.copy()  # a new array: the view notices it
        mask[disc] = value
        e.mask = mask if mask.any() else None
        self._changed()

    def refine_input(self) -> tuple[int, RefineInput]:
        """What a refine of the clicked points starts from, and the generation its pictures stand for."""
        e = self.state.edit
        n = min(len(e.handles), len(e.targets))
        if n == 0:
            raise SessionError("click a handle point and then its target on the image first")
        self.state.generation += 1
        return self.state.generation, RefineInput(e.latent(), e.spec.copy() if e.spec else None,
                                                  tuple(e.handles[:n]), tuple(e.targets[:n]), e.mask,
                                                  e.carried_homes(), tuple(e.objects))

    def new_generation(self) -> int:
        """A generation number for a job whose pictures replace the edit's (a photo's inversion)."""
        self.state.generation += 1
        return self.state.generation

    def set_refine(self, **changes: Any) -> None:
        """Change the refine's settings (`draggan.DragConfig` fields: mode, lr, max_steps, latent); checked at once."""
        self.state.refine = replace(self.state.refine, **changes)

    def apply_refine(self, ws: np.ndarray, spec: HeatmapSpec | None, points: list[tuple[float, float]]) -> None:
        """Keep a finished refine: its w+ becomes the base (code seeds were folded into it), handles move to
        where they were tracked."""
        e = self._begin()
        e.ws_override = np.asarray(ws, np.float32)
        e.code_seeds = [None] * self.state.num_codes
        if spec is not None:
            e.spec = spec.copy()
        n = min(len(points), len(e.handles))
        e.handles = [tuple(p) for p in points[:n]] + e.handles[n:]  # type: ignore[misc]
        self._changed()

    def apply_inversion(self, ws: np.ndarray, spec: HeatmapSpec | None, homes: list | None, model_path: str) -> None:
        """Keep an inverted photo: its w+ and layout become the edit, drawn with the tuned weights at `model_path`
        (which the session then names)."""
        e = self._begin()
        e.ws_override = np.asarray(ws, np.float32)
        e.code_seeds = [None] * self.state.num_codes
        e.spec = spec.copy() if spec is not None else None
        e.homes = [tuple(h) for h in homes] if homes is not None else None  # type: ignore[misc]
        e.handles, e.targets, e.mask, e.objects = [], [], None, []
        self.state.model_path = model_path
        self.state.selected, self.state.selection = None, None
        self._changed()
        self._new_scene()

    # ---- rendering ------------------------------------------------------------------------------------
    def render_request(self) -> RenderRequest:
        return _render_request(self.state.generation, self.state.edit)

    def history(self) -> list[Edit]:
        """Every undo state, oldest first, then the current one (redo states are not part of the history)."""
        return [*self.state.undo_stack, self.state.edit]

    def export_history_request(self, path: str | Path, scale: int | None = None,
                               ms_per_frame: int = 500) -> ExportRequest:
        """A request for the worker to render `history()` and write it to `path` (.gif or .mp4); `scale` upscales
        small models' pictures (default: to at least 256 px)."""
        target = check_history_path(path)  # fail now, in the status line, not after rendering every frame
        frames = tuple(_render_request(i, e) for i, e in enumerate(self.history()))
        scale = video_scale(self.state.resolution) if scale is None else scale
        return ExportRequest(self.state.generation, frames, str(target), scale, ms_per_frame)


def _render_request(generation: int, e: Edit) -> RenderRequest:
    return RenderRequest(generation, e.latent(), e.spec.copy() if e.spec is not None else None, e.carried_homes(),
                         objects=tuple(e.objects))
