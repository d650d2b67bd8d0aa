"""The object tool's edits on `AppState` (mixed into `Controller`): a click selects the object under it on the
picture's cluster map (`spatialgan.objects.selection`), a drag from inside the selection moves the object by its
features, Delete removes it. The selection is view state; the moves are part of the undoable edit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Hashable

import numpy as np

from spatialgan.objects.selection import Selection

from .messages import ObjectMap, ObjectMove
from .model_jobs import RefineInput
from .state import AppState, Edit, SessionError


def shifted_mask(mask: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """`mask` (r, r) moved by (dx, dy) image units, to the nearest cell; what leaves the grid is dropped."""
    r = mask.shape[0]
    sx, sy = int(round(dx * r)), int(round(dy * r))
    out = np.zeros_like(mask)
    src = mask[max(0, -sy): r - max(0, sy), max(0, -sx): r - max(0, sx)]
    out[max(0, sy): max(0, sy) + src.shape[0], max(0, sx): max(0, sx) + src.shape[1]] = src
    return out


class ObjectEdits:
    """Object selection, moves and removals (the controller's `_begin` / `_changed` make them undoable)."""

    state: AppState
    _last_key: Hashable | None
    _moving: tuple[int, np.ndarray] | None = None  # the move gesture under way and its region where it began

    if TYPE_CHECKING:  # the controller's
        def _begin(self, key: Hashable | None = None) -> Edit: ...

        def _changed(self) -> None: ...

    def select_object(self, x: float, y: float, found: ObjectMap, grow: bool = False) -> bool:
        """A click of the object tool at (x, y) (image units): selects the object there, or with `grow` adds or
        takes away the clicked cluster's region. Returns whether something is selected."""
        current = self.state.selection
        keep = grow and current is not None and current.shape == found.labels.shape
        selection = Selection(found.labels, found.background, current if keep else np.zeros(found.labels.shape, bool))
        mask = selection.click(x, y).mask
        self.state.selection = mask if mask.any() else None
        return self.state.selection is not None

    def selection_on_object(self, found: ObjectMap) -> bool:
        """Whether the selection holds any of the object pixels of `found` (False: a part of the background)."""
        sel = self.state.selection
        return (sel is not None and sel.shape == found.labels.shape
                and Selection(found.labels, found.background, sel).on_object)

    def clear_selection(self) -> None:
        self.state.selection = None

    def selection_contains(self, x: float, y: float) -> bool:
        sel = self.state.selection
        if sel is None or not (0 <= x <= 1 and 0 <= y <= 1):
            return False
        r = sel.shape[0]
        return bool(sel[min(int(y * r), r - 1), min(int(x * r), r - 1)])

    def move_object(self, dx: float, dy: float, gesture: int) -> None:
        """Move the selected object by (dx, dy) image units from where the gesture began (one undo step per
        gesture); the selection follows it."""
        if self._moving is None or self._moving[0] != gesture:
            if self.state.selection is None:
                raise SessionError("select an object first: click it with the object tool")
            self._moving = (gesture, self.state.selection.copy())
        continuing = self._last_key == ("object", gesture)
        e = self._begin(("object", gesture))
        move = ObjectMove(self._moving[1], (float(dx), float(dy)))
        if continuing and e.objects:
            e.objects[-1] = move
        else:
            e.objects.append(move)
        self.state.selection = shifted_mask(self._moving[1], dx, dy)
        self._changed()

    def remove_object(self) -> None:
        """Take the selected object out of the picture: its place is drawn from its surroundings."""
        if self.state.selection is None:
            raise SessionError("select an object first: click it with the object tool")
        self._begin().objects.append(ObjectMove(self.state.selection.copy(), None))
        self.state.selection = None
        self._changed()

    def object_refine_input(self) -> tuple[int, RefineInput]:
        """What a DragGAN refine of the last object move starts from: the move is its coarse step, applied with
        the objects moved before it."""
        e = self.state.edit
        if not e.objects or e.objects[-1].shift is None:
            raise SessionError("move an object first: its move is what the refine refines")
        self.state.generation += 1
        return self.state.generation, RefineInput(
            e.latent(), e.spec.copy() if e.spec else None, (), (), None,
            e.carried_homes(), tuple(e.objects[:-1]), e.objects[-1])
