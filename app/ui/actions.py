"""What the editor's controls do: every widget's action, the Files panel (names typed there live in the chosen
folder), sessions, and the controls that start jobs. A mixin of `EditorView`, which draws; a new job kind is one
more entry here and its `Job` class."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import dearpygui.dearpygui as dpg
import numpy as np

from spatialgan.errors import SpatialGANError

from ..jobs import OpenModel, WriteVideo
from ..settings import shown
from ..state import model_to_open
from .layout import LATENT_CHOICES

if TYPE_CHECKING:
    from ..controller import Controller
    from ..presenter import Presenter
    from ..settings import Settings
    from .view import ViewOptions


class Actions:
    c: "Controller"
    p: "Presenter"
    opt: "ViewOptions"
    settings: "Settings"
    overlay_dirty: bool
    pending_session: Path | None

    if TYPE_CHECKING:  # the view's own (drawing) and its navigation's
        def _upload(self, image: np.ndarray | None = None) -> None: ...

        def _wheel(self, notches: float) -> None: ...

        def _toggle_help(self) -> None: ...

    def _actions(self) -> dict[Any, Callable[[Any], Any]]:
        """What each widget's user_data does; the value is the widget's new value."""
        c, p = self.c, self.p
        return {
            "undo": lambda v: c.undo(), "redo": lambda v: c.redo(),
            "overlay": lambda v: None, "smooth": lambda v: self._upload() if p.image is not None else None,
            "attention": lambda v: (p.show_attention(bool(v)), self._upload() if p.image is not None else None),
            "seed": lambda v: c.set_seed(int(v), keep_layout=bool(dpg.get_value("keep_layout"))),
            "random_seed": lambda v: c.set_seed(int(np.random.randint(0, 100000)),
                                                keep_layout=bool(dpg.get_value("keep_layout"))),
            "psi": lambda v: c.set_psi(float(v)), "carry": lambda v: c.set_carry(bool(v)),
            "label": lambda v: c.set_label(p.info.capabilities.class_labels.index(v)),
            "sigma": lambda v: c.set_sigma(*self._selected(), float(v)),
            "enabled": lambda v: c.set_enabled(*self._selected(), bool(v)),
            "replace": lambda v: self._say(f"object {self._selected()[1]}: new style seed "
                                           f"{c.resample_code(self._selected()[1])}"),
            "replace_bg": lambda v: self._say(f"background: new style seed "
                                              f"{c.resample_code(p.info.capabilities.background_code)}"),
            "mode": lambda v: c.set_refine(mode=str(v)), "lr": lambda v: c.set_refine(lr=float(v)),
            "max_steps": lambda v: c.set_refine(max_steps=int(v)),
            "latent": lambda v: c.set_refine(latent=dict(zip(LATENT_CHOICES, ("w+", "w")))[v]),
            "refine_run": lambda v: self._start_refine(), "refine_stop": lambda v: p.stop(),
            "object_tool": lambda v: (p.show_objects(bool(v)), None if v else c.clear_selection()),
            "remove_object": lambda v: c.remove_object(),
            "pick_model": lambda v: (dpg.set_value("model_path", v), self._open_model()),
            "open_model": lambda v: self._open_model(),
            "clear_mask": lambda v: c.set_mask(None),
            "clear_points": lambda v: None if p.clear_points() else self._say("no points to clear"),
            "save": lambda v: self._written(c.save_session(self._out("session_path")), "session saved"),
            "load": lambda v: self._load_session(),
            "load_autosave": lambda v: (c.load_session(c.autosave_path),
                                        self._say(f"autosave loaded from {c.autosave_path}")),
            "export": lambda v: self._written(p.export_image(self._out("export_path")), "image saved"),
            "export_history": lambda v: self._start_export("history_path", self._export_history),
            "export_refine": lambda v: self._start_export("refine_video_path", self._export_refine),
            "open_photo": lambda v: self._open_photo(),
            "wheel": lambda v: self._wheel(float(v)), "help": lambda v: self._toggle_help(),
            "folder": lambda v: self._set_folder(str(v)),
            "browse": lambda v: dpg.show_item("folder_dialog"),
            "folder_picked": lambda v: self._set_folder(str(v.get("file_path_name", "")) if isinstance(v, dict)
                                                        else ""),
        }

    def _say(self, message: str) -> None:
        self.p.status.say(message)

    # ---- files: names typed in the Files panel live in the chosen folder ----------------------------
    def _out(self, tag: str) -> Path:
        return self.settings.output_path(str(dpg.get_value(tag)))

    def _remember(self, path: Path) -> None:
        """The folder of a file written (or being written) becomes the default for the next one."""
        self.settings.remember(path)
        dpg.set_value("folder", shown(self.settings.folder))

    def _start_export(self, tag: str, start: Callable[[str], Any]) -> None:
        """Start a background export to the name in field `tag`; once it is under way, its folder is remembered."""
        path = self._out(tag)
        if start(str(path)):
            self._remember(path)

    def _written(self, path: Path, what: str) -> None:
        self._remember(path)
        self._say(f"{what}: {path.resolve()}")

    def _set_folder(self, text: str) -> None:
        folder = Path(text.strip()).expanduser()
        if not text.strip():
            raise SpatialGANError("type a folder for exports and sessions")
        if folder.exists() and not folder.is_dir():
            raise SpatialGANError(f"{folder} is a file, not a folder")
        self.settings.use(folder)
        dpg.set_value("folder", shown(self.settings.folder))
        self._say(f"exports and sessions go to {self.settings.folder}")

    def _selected(self) -> tuple[int, int]:
        if self.c.state.selected is None:
            raise SpatialGANError("select an object first (click its centre)")
        return self.c.state.selected

    def _load_session(self) -> None:
        """Load a session; one saved with another model (an inverted photo's tuned weights) opens that model
        first, in the background, and is loaded onto it."""
        path = str(self.settings.input_path(str(dpg.get_value("session_path"))))  # a bare name: in the folder
        other = model_to_open(path, self.c.state.model_path) if self.opt.open_model is not None else None
        if other is None:
            self.c.load_session(path)
            self._say(f"session loaded from {Path(path).resolve()}")
            return
        self.c.autosave()  # the current edit is kept in the autosave file
        if self._open(other):
            self.pending_session = Path(path)

    # ---- controls that start jobs -----------------------------------------------------------------------
    def _open_model(self) -> None:
        self.c.autosave()  # the edit of this model is kept in the autosave file
        self._open(str(dpg.get_value("model_path")).strip())

    def _open(self, path: str) -> bool:
        assert self.opt.open_model is not None
        if not path:
            raise SpatialGANError("type a checkpoint path or pick a bundled model first")
        return self.p.start(OpenModel(self.c.state.generation, self.opt.open_model, path))

    def _open_photo(self) -> None:
        from ..model_jobs import InvertPhoto

        photo = str(dpg.get_value("photo_path")).strip()
        if not photo:
            raise SpatialGANError("type the path of a photo first")
        self.p.start(InvertPhoto(self.c.new_generation(), str(self.settings.input_path(photo)),
                                 str(dpg.get_value("photo_fit")), self.opt.invert_steps))

    def _start_refine(self, objects: bool = False) -> None:
        """A refine of the clicked points, or (`objects`) of the last object move."""
        from ..model_jobs import Refine

        generation, start = self.c.object_refine_input() if objects else self.c.refine_input()
        if self.p.start(Refine(generation, start, self.c.state.refine)):
            self.p.refine_targets = list(start.targets)

    def _export_history(self, path: str) -> bool:
        from ..model_jobs import ExportHistory

        return self.p.start(ExportHistory(self.c.export_history_request(path)))

    def _export_refine(self, path: str) -> bool:
        from spatialgan.video import check_video_path, write_video

        target = check_video_path(path)  # fail now, in the status line, not after the frames are drawn
        frames = self.p.refine_video_frames(bool(dpg.get_value("video_points")))
        return self.p.start(WriteVideo(self.c.state.generation, target, frames, write_video, "refine video"))
