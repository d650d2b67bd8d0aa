"""The editor's files: saving and loading sessions, the status of what is saved, and the autosave. A mixin of
`app.controller.Controller`, whose edits it saves and replaces."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from spatialgan.errors import SpatialGANError
from spatialgan.files import FileError, write_json_atomic
from spatialgan.heatmaps.spec import HeatmapSpec

from .state import AppState, Edit, SessionError, read_session, session_to_dict


class SessionFiles:
    state: AppState
    autosave_path: Path
    check_layout: Callable[[HeatmapSpec], None] | None

    if TYPE_CHECKING:  # the controller's
        def _begin(self) -> Edit: ...

        def _changed(self) -> None: ...

        def _new_scene(self) -> None: ...

    def save_session(self, path: str | Path) -> Path:
        try:
            path = write_json_atomic(path, session_to_dict(self.state), "session file")
        except FileError as exc:  # a folder, a read-only place, under a file: a session error like any other
            raise SessionError(str(exc)) from None
        self.state.dirty = False
        self.state.saved_to = str(path)
        return path

    def load_session(self, path: str | Path) -> str:
        """Replace the edit with a session file's (undoable). Returns the model path the session names."""
        s = self.state
        model_path, edit = read_session(path, s.resolution, s.num_codes, s.ws_shape, self.check_layout)
        if edit.spec is not None and s.edit.spec is not None and edit.spec.mode != s.edit.spec.mode:
            raise SessionError(f"session file {path}: its heatmap is {edit.spec.mode!r}, this model's is "
                               f"{s.edit.spec.mode!r}")
        if (edit.spec is None) != (s.edit.spec is None):
            raise SessionError(f"session file {path}: it was made for a model "
                               f"{'without' if edit.spec is None else 'with'} heatmaps")
        self._begin()
        s.edit = edit
        s.selected = None
        self._changed()
        s.dirty, s.saved_to = False, str(path)
        self._new_scene()
        return model_path

    def save_status(self) -> str:
        """What the status line says about saving: nothing claims "saved" before anything was."""
        s = self.state
        if s.dirty:
            return "unsaved changes (autosaved every few seconds)"
        return f"saved: {s.saved_to}" if s.saved_to else "no edits yet"

    def autosave(self) -> Path | None:
        """Write unsaved work to the cache dir (called every few seconds and on exit); None if nothing to save."""
        if not self.state.dirty:
            return None
        try:
            write_json_atomic(self.autosave_path, session_to_dict(self.state) | {"saved_at": time.time()}, "autosave")
        except (OSError, SpatialGANError):
            return None  # the cache dir is best-effort; a failed autosave must never interrupt editing
        return self.autosave_path
