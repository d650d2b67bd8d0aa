"""The Dear PyGui view: builds the window, turns mouse and widget events into controller actions, and each
frame polls the worker and shows its newest result. All Dear PyGui calls happen on this (the GUI) thread;
callbacks are queued and run from `frame()` (manual callback management), so no state is shared with
Dear PyGui's own threads.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import dearpygui.dearpygui as dpg
import numpy as np
from PIL import Image

from spatialgan.errors import SpatialGANError
from spatialgan.paths import list_checkpoints

from ..controller import Controller
from ..messages import ExportProgress, LevelHint, ModelInfo, RefineProgress, RenderResult
from ..worker import Worker
from .geometry import Canvas, centre_colour, heatmap_rgba, hit_centre, image_rgba, panel_label, shade_outside

IMAGE_SIZE = 640  # screen pixels of the image canvas: 5x a 128 px model, fits a 1400x900 window
PANEL_SIZE = 192  # screen pixels of each heatmap panel (hierarchical: one per level)
MULTI_PANEL_SIZE = 288  # the one panel of a multi-object model
AUTOSAVE_EVERY = 10.0  # seconds
MODES = ("draggan", "joint", "hybrid")


@dataclass
class ViewOptions:
    refine_steps: int = 200
    dump_dir: Path | None = None  # test hook: write image.png + state.json after every shown image
    # Loads a checkpoint for "Open model" (raises SpatialGANError for a bad file); None hides the picker.
    open_model: Callable[[str], Any] | None = None


def _short_path(source: str) -> str:
    """A checkpoint path relative to the working folder when it lies inside it (the label stays short)."""
    try:
        return str(Path(source).resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return source


class EditorView:
    def __init__(self, controller: Controller, worker: Worker, options: ViewOptions) -> None:
        self.c, self.worker, self.info, self.opt = controller, worker, worker.info, options
        info: ModelInfo = self.info
        self.image_canvas = Canvas("image_canvas", IMAGE_SIZE, None)
        if not info.uses_heatmaps:
            self.panels: list[Canvas] = []
        elif info.heatmap_mode == "hierarchical":
            self.panels = [Canvas(f"panel_{i}", PANEL_SIZE, i) for i in range(len(info.levels))]
        else:
            self.panels = [Canvas("panel_0", MULTI_PANEL_SIZE, None)]
        self.image: np.ndarray | None = None
        self.image_buf = np.zeros(IMAGE_SIZE * IMAGE_SIZE * 4, np.float32)
        self.panel_bufs = [np.zeros(p.size * p.size * 4, np.float32) for p in self.panels]
        self.submitted = -1  # generation of the last render request sent
        self.shown = -1  # generation of the image on screen
        self.ms = 0.0
        self.drag: tuple[Canvas, int, int, int] | None = None  # canvas, level, index, gesture
        self.mouse_was_down = False
        self.right_was_down = False
        self.stroke: tuple[bool, int] | None = None  # mask painting: (paint or erase, gesture)
        self.shown_mask: np.ndarray | None = None  # the mask the image texture was shaded with
        self.last_mouse: tuple[float, float] | None = None
        self.refine_gen: int | None = None  # generation of the running refine
        self.refine_last: RefineProgress | None = None
        self.refine_steps_seen = 0
        self.tracked: list[tuple[float, float]] = []
        self.message = ""
        self.overlay_dirty = True
        self.synced = -1
        self.last_autosave = time.monotonic()
        self.frames = 0
        self.next_model: Any = None  # what open_model returned: the caller rebuilds the editor on it
        self.export_gen: int | None = None  # generation of the running history export
        self.inert: tuple[bool, ...] = ()  # per panel, from the worker's LevelHint
        self.frame_times: list[float] = []  # monotonic times of the last frames, for the fps in the status line
        # Frame pacing while the worker renders or refines (the window must stay >= 30 fps then).
        self.busy_frames, self.busy_seconds, self.busy_max_gap = 0, 0.0, 0.0

    # ---- layout ---------------------------------------------------------------------------------------
    def build(self) -> None:
        info = self.info
        with dpg.texture_registry(tag="textures"):
            dpg.add_raw_texture(IMAGE_SIZE, IMAGE_SIZE, self.image_buf, format=dpg.mvFormat_Float_rgba, tag="image_tex")
            for i, (p, buf) in enumerate(zip(self.panels, self.panel_bufs)):
                dpg.add_raw_texture(p.size, p.size, buf, format=dpg.mvFormat_Float_rgba, tag=f"panel_tex_{i}")
        with dpg.theme(tag="error_theme"):
            with dpg.theme_component(dpg.mvText):
                dpg.add_theme_color(dpg.mvThemeCol_Text, (255, 110, 110))
        cb = self._callback
        with dpg.window(tag="main", no_scrollbar=True):
            with dpg.group(horizontal=True):
                dpg.add_button(label="Undo", tag="undo", callback=cb, user_data="undo")
                dpg.add_button(label="Redo", tag="redo", callback=cb, user_data="redo")
                dpg.add_spacer(width=12)
                if self.opt.open_model is not None:
                    # the bundled models to pick from; the path field takes any other checkpoint
                    names = [_short_path(str(p)) for p in list_checkpoints()]
                    dpg.add_combo(names, tag="model_pick", width=260, default_value=_short_path(info.source),
                                  callback=cb, user_data="pick_model")
                    dpg.add_input_text(tag="model_path", width=260, default_value=_short_path(info.source))
                    dpg.add_button(label="Open model", tag="open_model", callback=cb, user_data="open_model")
                dpg.add_text(f"{_short_path(info.source) if self.opt.open_model is None else ''}  "
                             f"({info.resolution} px, {info.encoding}, "
                             f"{info.num_codes} style code{'s' if info.num_codes > 1 else ''})", color=(170, 170, 170))
            with dpg.group(horizontal=True):
                with dpg.group():
                    with dpg.drawlist(IMAGE_SIZE, IMAGE_SIZE, tag="image_canvas"):
                        dpg.draw_image("image_tex", (0, 0), (IMAGE_SIZE, IMAGE_SIZE))
                        dpg.add_draw_layer(tag="image_canvas_overlay")
                    dpg.add_text("Drag a centre to move its object. Click elsewhere: handle, then target point.",
                                 color=(150, 150, 150))
                    with dpg.group(horizontal=True):
                        dpg.add_checkbox(label="show centres on the image", tag="show_centres", default_value=True,
                                         callback=cb, user_data="overlay")
                        # Off by default: crisp pixels show what the model made; on, a 64 px image reads better.
                        dpg.add_checkbox(label="smooth pixels", tag="smooth_image", default_value=False,
                                         callback=cb, user_data="smooth")
                    if info.uses_heatmaps:
                        dpg.add_checkbox(label="moved objects keep their look", tag="carry",
                                         default_value=self.c.state.edit.carry, callback=cb, user_data="carry")
                        with dpg.tooltip("carry"):
                            dpg.add_text("On: a moved object brings its look from where the seed put it."
                                         "\nOff: the model redraws it at the new place, as the "
                                         "paper does; it may draw another one.")
                with dpg.group():
                    if self.panels:
                        title = ("Heatmap levels (drag the centres)" if info.heatmap_mode == "hierarchical"
                                 else "Objects heatmap (drag the centres)")
                        dpg.add_text(title)
                        with dpg.group(horizontal=True):
                            for i, p in enumerate(self.panels):
                                with dpg.group():
                                    dpg.add_text(panel_label(p.level, info.levels[i], info.num_codes - 1),
                                                 tag=f"panel_label_{i}", color=(150, 150, 150))
                                    with dpg.drawlist(p.size, p.size, tag=p.tag):
                                        dpg.draw_image(f"panel_tex_{i}", (0, 0), (p.size, p.size))
                                        dpg.add_draw_layer(tag=f"{p.tag}_overlay")
                    self._build_controls()
            dpg.add_separator()
            dpg.add_text("", tag="status")
            dpg.add_text("", tag="error")
            dpg.bind_item_theme("error", "error_theme")

    def _build_controls(self) -> None:
        cb, info = self._callback, self.info
        with dpg.collapsing_header(label="Scene", default_open=True):
            with dpg.group(horizontal=True):
                dpg.add_input_int(label="seed", tag="seed", width=130, min_value=0, min_clamped=True,
                                  default_value=self.c.state.edit.seed, callback=cb, user_data="seed", on_enter=True)
                dpg.add_button(label="Random", tag="random_seed", callback=cb, user_data="random_seed")
                dpg.add_checkbox(label="keep layout", tag="keep_layout")
            dpg.add_slider_float(label="psi (truncation)", tag="psi", width=260, min_value=0.0, max_value=1.0,
                                 default_value=self.c.state.edit.psi, callback=cb, user_data="psi")
        if info.uses_heatmaps:
            with dpg.collapsing_header(label="Selected centre", default_open=True):
                dpg.add_text("click a centre to select it", tag="sel_label")
                dpg.add_slider_float(label="sigma", tag="sigma", width=260, min_value=0.01, max_value=0.6,
                                     callback=cb, user_data="sigma")
                with dpg.group(horizontal=True):
                    dpg.add_checkbox(label="present (untick to remove)", tag="enabled", callback=cb,
                                     user_data="enabled")
                    dpg.add_button(label="Replace object style", tag="replace", callback=cb, user_data="replace")
                with dpg.group(horizontal=True):
                    dpg.add_text("all sigmas:")
                    dpg.add_button(label="x 0.9", callback=cb, user_data=("scale", 0.9))
                    dpg.add_button(label="x 1.1", callback=cb, user_data=("scale", 1.1))
                    if info.encoding == "sel_indoor":
                        dpg.add_button(label="Replace background", tag="replace_bg", callback=cb,
                                       user_data="replace_bg")
        with dpg.collapsing_header(label="DragGAN refine", default_open=True):
            modes = MODES if info.uses_heatmaps else ("draggan",)
            with dpg.group(horizontal=True):
                dpg.add_combo(modes, label="mode", tag="mode", width=110, default_value=modes[-1])
                dpg.add_input_float(label="step size", tag="lr", width=120, default_value=2e-3, format="%.4f",
                                    step=5e-4, min_value=1e-5, min_clamped=True)
                dpg.add_input_int(label="max steps", tag="max_steps", width=110, default_value=self.opt.refine_steps,
                                  min_value=1, min_clamped=True)
            with dpg.group(horizontal=True):
                dpg.add_button(label="Run refine", tag="refine_run", callback=cb, user_data="refine_run")
                dpg.add_button(label="Stop", tag="refine_stop", callback=cb, user_data="refine_stop", enabled=False)
                dpg.add_button(label="Clear points", tag="clear_points", callback=cb, user_data="clear_points")
                dpg.add_text("", tag="points_label")
            with dpg.group(horizontal=True):
                dpg.add_checkbox(label="paint flexible area (left: paint, right: erase)", tag="paint_mask")
                dpg.add_slider_int(label="brush px", tag="brush", width=100, min_value=1, max_value=32,
                                   default_value=8)
                dpg.add_button(label="Clear mask", tag="clear_mask", callback=cb, user_data="clear_mask")
            dpg.add_progress_bar(tag="refine_progress", width=560, default_value=0.0, overlay="idle")
        with dpg.collapsing_header(label="Files", default_open=True):
            with dpg.group(horizontal=True):
                dpg.add_input_text(tag="session_path", width=300, default_value="session.json")
                dpg.add_button(label="Save session", callback=cb, user_data="save")
                dpg.add_button(label="Load session", callback=cb, user_data="load")
                dpg.add_button(label="Load autosave", callback=cb, user_data="load_autosave")
            with dpg.group(horizontal=True):
                dpg.add_input_text(tag="export_path", width=300, default_value="edit.png")
                dpg.add_button(label="Export PNG", tag="export_png", callback=cb, user_data="export")
            with dpg.group(horizontal=True):
                dpg.add_input_text(tag="history_path", width=300, default_value="history.gif")
                dpg.add_button(label="Export history GIF", tag="export_history", callback=cb,
                               user_data="export_history")

    # ---- actions --------------------------------------------------------------------------------------
    def _callback(self, sender: Any, app_data: Any, user_data: Any) -> None:
        try:
            self._act(user_data, app_data)
        except (SpatialGANError, ValueError, IndexError, OSError) as exc:
            self.c.state.last_error = str(exc)
        except Exception as exc:  # noqa: BLE001 - an unexpected failure is shown, never fatal to the editor
            self.c.state.last_error = f"{type(exc).__name__}: {exc}"

    def _act(self, what: Any, value: Any) -> None:
        c, s = self.c, self.c.state
        if isinstance(what, tuple) and what[0] == "scale":
            return c.scale_sigmas(what[1])
        if what in ("undo", "redo"):
            (c.undo if what == "undo" else c.redo)()
        elif what == "overlay":
            self.overlay_dirty = True
        elif what == "smooth":
            if self.image is not None:
                self._upload()
        elif what == "seed":
            c.set_seed(int(value), keep_layout=bool(dpg.get_value("keep_layout")))
        elif what == "random_seed":
            c.set_seed(int(np.random.randint(0, 100000)), keep_layout=bool(dpg.get_value("keep_layout")))
        elif what == "psi":
            c.set_psi(float(value))
        elif what == "carry":
            c.set_carry(bool(value))
        elif what in ("sigma", "enabled", "replace") and s.selected is not None:
            li, ci = s.selected
            if what == "sigma":
                c.set_sigma(li, ci, float(value))
            elif what == "enabled":
                c.set_enabled(li, ci, bool(value))
            else:
                self.message = f"object {ci}: new style seed {c.resample_code(ci)}"
        elif what == "replace":
            s.last_error = "select an object first (click its centre)"
        elif what == "replace_bg":
            self.message = f"background: new style seed {c.resample_code(s.num_codes - 1)}"
        elif what == "refine_run":
            self._start_refine()
        elif what == "refine_stop":
            self.worker.cancel_refine()
        elif what == "pick_model":
            dpg.set_value("model_path", value)
        elif what == "open_model":
            assert self.opt.open_model is not None
            self.c.autosave()  # the edit of this model is kept in the autosave file
            self.next_model = self.opt.open_model(str(dpg.get_value("model_path")).strip())
        elif what == "clear_mask":
            c.set_mask(None)
        elif what == "clear_points":
            c.clear_points()
            self.tracked = []
        elif what == "save":
            self.message = f"session saved to {c.save_session(dpg.get_value('session_path'))}"
        elif what == "load":
            c.load_session(dpg.get_value("session_path"))
            self.message = "session loaded"
        elif what == "load_autosave":
            c.load_session(c.autosave_path)
            self.message = f"autosave loaded from {c.autosave_path}"
        elif what == "export":
            if self.image is None:
                raise SpatialGANError("nothing rendered yet")
            path = Path(dpg.get_value("export_path")).expanduser()
            if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp", ".bmp"):
                raise SpatialGANError(f"export the image as .png (or .jpg/.webp/.bmp), not {str(path)!r}")
            Image.fromarray(self.image).save(path)
            self.message = f"image saved to {path}"
        elif what == "export_history":
            req = c.export_history_request(dpg.get_value("history_path"))
            self.worker.submit(req)
            self.export_gen = req.generation
            self.message = f"exporting the history: 0/{len(req.frames)} frames"
        self.overlay_dirty = True

    def _start_refine(self) -> None:
        if self.refine_gen is not None:
            return
        mode = dpg.get_value("mode")
        req = self.c.refine_request(mode, float(dpg.get_value("lr")), int(dpg.get_value("max_steps")))
        self.worker.submit(req)
        self.refine_gen, self.refine_last, self.refine_steps_seen = req.generation, None, 0
        self.submitted = req.generation  # the refine's images stand for this generation
        dpg.configure_item("refine_run", enabled=False)
        dpg.configure_item("refine_stop", enabled=True)
        dpg.configure_item("refine_progress", overlay="starting...")
        self.c.state.last_error = ""

    # ---- input ----------------------------------------------------------------------------------------
    def _canvas_under_mouse(self) -> tuple[Canvas, tuple[float, float]] | None:
        for canvas in [self.image_canvas, *self.panels]:
            if dpg.is_item_hovered(canvas.tag):
                return canvas, tuple(dpg.get_item_rect_min(canvas.tag))  # type: ignore[return-value]
        return None

    def _mouse(self) -> None:
        down = dpg.is_mouse_button_down(dpg.mvMouseButton_Left)
        mx, my = dpg.get_mouse_pos(local=False)
        pressed, released = down and not self.mouse_was_down, self.mouse_was_down and not down
        self.mouse_was_down = down
        right = dpg.is_mouse_button_down(dpg.mvMouseButton_Right)
        right_pressed, self.right_was_down = right and not self.right_was_down, right
        busy = self.refine_gen is not None
        if self._paint(mx, my, busy, pressed, right_pressed, down, right):
            return
        if pressed and not busy:
            hit = self._canvas_under_mouse()
            if hit is not None:
                canvas, origin = hit
                x, y = canvas.to_image(origin, mx, my)
                show = canvas is not self.image_canvas or dpg.get_value("show_centres")
                found = hit_centre(self.c.centres(), canvas.level, canvas.size, x, y) if show else None
                if found is not None:
                    self.c.select(*found)
                    self.synced = -1  # show the selection's sigma and state
                    self.drag = (canvas, found[0], found[1], self.c.new_gesture())
                    self.last_mouse = (mx, my)
                elif canvas is self.image_canvas:
                    r = self.info.resolution
                    kind = self.c.add_point(x * r - 0.5, y * r - 0.5)
                    self.message = f"{kind} point added"
                self.overlay_dirty = True
        elif down and self.drag is not None and (mx, my) != self.last_mouse:
            canvas, li, ci, gesture = self.drag
            origin = tuple(dpg.get_item_rect_min(canvas.tag))
            x, y = canvas.to_image(origin, mx, my)  # type: ignore[arg-type]
            self.c.move_centre(li, ci, x, y, gesture=gesture)
            self.last_mouse = (mx, my)
            self.overlay_dirty = True
        if released:
            self.drag = None
        if dpg.is_key_down(dpg.mvKey_LControl) or dpg.is_key_down(dpg.mvKey_RControl):
            if dpg.is_key_pressed(dpg.mvKey_Z):
                self.c.undo()
            elif dpg.is_key_pressed(dpg.mvKey_Y):
                self.c.redo()

    def _paint(self, mx: float, my: float, busy: bool, pressed: bool, right_pressed: bool, left: bool,
               right: bool) -> bool:
        """Mask painting on the image while "paint flexible area" is ticked. True when the mouse was used."""
        if self.stroke is None:
            if (busy or not (pressed or right_pressed) or not dpg.get_value("paint_mask")
                    or not dpg.is_item_hovered("image_canvas")):
                return False
            self.stroke, self.last_mouse = (pressed, self.c.new_gesture()), None
        value, gesture = self.stroke
        if not (left if value else right):
            self.stroke = None
            return True
        if (mx, my) != self.last_mouse:
            x, y = self.image_canvas.to_image(tuple(dpg.get_item_rect_min("image_canvas")), mx, my)  # type: ignore[arg-type]
            r = self.info.resolution
            self.c.paint_mask(x * r - 0.5, y * r - 0.5, float(dpg.get_value("brush")), value, gesture)
            self.last_mouse = (mx, my)
        return True

    # ---- results --------------------------------------------------------------------------------------
    def _show_image(self, image: np.ndarray) -> None:
        self.image = image
        self._upload()

    def _upload(self) -> None:
        """Put the image on screen, shaded outside the flexible-area mask."""
        assert self.image is not None
        self.shown_mask = self.c.state.edit.mask
        image_rgba(shade_outside(self.image, self.shown_mask), IMAGE_SIZE, out=self.image_buf,
                   smooth=bool(dpg.get_value("smooth_image")))
        dpg.set_value("image_tex", self.image_buf)

    def _results(self) -> bool:
        shown_new = False
        for r in self.worker.poll():
            if isinstance(r, RenderResult):
                if r.generation < self.shown or self.refine_gen is not None:
                    continue  # stale: a newer picture is already on screen, or a refine owns the image
                self.shown, self.ms = r.generation, r.ms
                if r.error:
                    self.c.state.last_error = r.error
                    continue
                if r.generation == self.c.state.generation:
                    self.c.state.last_error = ""
                assert r.image is not None
                self._show_image(r.image)
                for i, heat in enumerate(r.heatmaps[: len(self.panels)]):
                    self.panel_bufs[i][:] = heatmap_rgba(heat, self.panels[i].size)
                    dpg.set_value(f"panel_tex_{i}", self.panel_bufs[i])
                shown_new = True
            elif isinstance(r, RefineProgress) and r.generation == self.refine_gen:
                shown_new |= self._refine_progress(r)
            elif isinstance(r, LevelHint):
                self._level_hint(r)
            elif isinstance(r, ExportProgress) and r.generation == self.export_gen:
                if r.error:
                    self.c.state.last_error, self.export_gen = r.error, None
                    self.message = ""
                elif r.done:
                    self.message, self.export_gen = f"history ({r.total} frames) saved to {r.path}", None
                else:
                    self.message = f"exporting the history: {r.rendered}/{r.total} frames"
        return shown_new

    def _level_hint(self, r: LevelHint) -> None:
        """Mark the panels of levels whose centres barely change the picture."""
        if r.error:
            self.c.state.last_error = f"measuring the heatmap levels failed: {r.error}"
            return
        self.inert = r.inert[: len(self.panels)]
        for i, inert in enumerate(self.inert):
            p = self.panels[i]
            dpg.set_value(f"panel_label_{i}", panel_label(p.level, self.info.levels[i], self.info.num_codes - 1, inert))
            dpg.configure_item(f"panel_label_{i}", color=(230, 170, 80) if inert else (150, 150, 150))

    def _refine_progress(self, r: RefineProgress) -> bool:
        self.refine_last, self.tracked = r, list(r.points)
        self.refine_steps_seen += 0 if r.done else 1
        dist = f", distance {max(r.distances):.1f} px" if r.distances else ""
        dpg.set_value("refine_progress", min(1.0, r.step / max(1, r.max_steps)))
        dpg.configure_item("refine_progress", overlay=f"step {r.step}/{r.max_steps}{dist}")
        if r.image is not None:
            self._show_image(r.image)
            self.ms = r.ms
        self.overlay_dirty = True
        if r.done:
            self.refine_gen = None
            dpg.configure_item("refine_run", enabled=True)
            dpg.configure_item("refine_stop", enabled=False)
            if r.error and r.ws is None:
                self.c.state.last_error = r.error
            else:
                if r.error:
                    self.c.state.last_error = r.error
                assert r.ws is not None
                self.c.apply_refine(r.ws, r.spec, r.points)
                self.message = f"refine {'stopped' if r.cancelled else 'finished'} after {r.step} steps{dist}"
                self.tracked = []
        return r.image is not None

    # ---- drawing --------------------------------------------------------------------------------------
    def _draw_overlays(self) -> None:
        mode = self.info.heatmap_mode
        centres = self.c.centres()
        sel = self.c.state.selected
        for canvas in [self.image_canvas, *self.panels]:
            layer = f"{canvas.tag}_overlay"
            dpg.delete_item(layer, children_only=True)
            if canvas is self.image_canvas and not dpg.get_value("show_centres"):
                centres_here = []
            else:
                centres_here = [c for c in centres if canvas.level is None or c[0] == canvas.level]
            for li, ci, x, y, sigma, enabled in centres_here:
                sx, sy = x * canvas.size, y * canvas.size
                colour = centre_colour(mode, li, ci)
                if canvas is not self.image_canvas:  # the panels show each Gaussian's extent
                    dpg.draw_circle((sx, sy), sigma * canvas.size, color=(*colour, 110), parent=layer)
                if enabled:
                    dpg.draw_circle((sx, sy), 6, color=(0, 0, 0, 255), fill=(*colour, 255), thickness=2, parent=layer)
                else:
                    dpg.draw_circle((sx, sy), 6, color=(*colour, 200), thickness=2, parent=layer)
                    dpg.draw_line((sx - 5, sy - 5), (sx + 5, sy + 5), color=(*colour, 200), parent=layer)
                if sel == (li, ci):
                    dpg.draw_circle((sx, sy), 10, color=(255, 255, 255, 255), thickness=2, parent=layer)
            if canvas is self.image_canvas:
                self._draw_points(layer)
        self.overlay_dirty = False

    def _draw_points(self, layer: str) -> None:
        e = self.c.state.edit
        k = IMAGE_SIZE / self.info.resolution

        def scr(p: tuple[float, float]) -> tuple[float, float]:
            return (p[0] + 0.5) * k, (p[1] + 0.5) * k

        handles = self.tracked if self.tracked else e.handles
        for i, h in enumerate(handles):
            if i < len(e.targets):
                dpg.draw_arrow(scr(e.targets[i]), scr(h), color=(255, 255, 255, 200), thickness=2, size=6,
                               parent=layer)
            dpg.draw_circle(scr(h), 5, fill=(255, 40, 40, 255), color=(255, 255, 255, 255), parent=layer)
        for t in e.targets:
            dpg.draw_circle(scr(t), 5, fill=(40, 110, 255, 255), color=(255, 255, 255, 255), parent=layer)

    def _sync_widgets(self) -> None:
        s = self.c.state
        e = s.edit
        dpg.set_value("seed", e.seed)
        dpg.set_value("psi", e.psi)
        if self.info.uses_heatmaps:
            dpg.set_value("carry", e.carry)
            if s.selected is not None and e.spec is not None:
                li, ci = s.selected
                cen = e.spec.levels[li][ci]
                what = (f"level {li}, centre {ci}" if e.spec.mode == "hierarchical" else f"object {ci}")
                dpg.set_value("sel_label", f"selected: {what}  at ({e.spec.absolute(li, ci)[0]:.2f}, "
                                           f"{e.spec.absolute(li, ci)[1]:.2f})")
                dpg.set_value("sigma", cen.sigma)
                dpg.set_value("enabled", cen.enabled)
            for tag in ("sigma", "enabled"):
                dpg.configure_item(tag, enabled=s.selected is not None)
            can_replace = (self.info.encoding == "sel_indoor" and s.selected is not None
                           and s.selected[1] < s.num_codes - 1)
            dpg.configure_item("replace", enabled=can_replace)
        n = min(len(e.handles), len(e.targets))
        dpg.set_value("points_label", f"{n} handle/target pair{'s' if n != 1 else ''}"
                      + (" (+1 handle waiting for its target)" if len(e.handles) > n else "")
                      + (f", mask {int(e.mask.sum())} px" if e.mask is not None else ""))
        dpg.configure_item("undo", enabled=bool(s.undo_stack))
        dpg.configure_item("redo", enabled=bool(s.redo_stack))
        self.synced = s.generation

    def _status(self) -> None:
        s = self.c.state
        busy = "refining" if self.refine_gen is not None else ("rendering" if self.worker.busy else "idle")
        dpg.set_value("status", f"device: {self.info.device}   |   {self.ms:.0f} ms per render   |   "
                                f"{self.fps():.0f} fps   |   {busy}   |   "
                                f"{'unsaved changes' if s.dirty else 'saved'}   |   {self.message}")
        dpg.set_value("error", f"last error: {s.last_error}" if s.last_error else "")

    # ---- test hook ------------------------------------------------------------------------------------
    def _rect(self, tag: str) -> list[float]:
        x0, y0 = dpg.get_item_rect_min(tag)
        x1, y1 = dpg.get_item_rect_max(tag)
        return [x0, y0, x1, y1]

    def dump(self) -> None:
        """Write the shown image and where things are on screen (viewport pixels) for the end-to-end tests."""
        d = self.opt.dump_dir
        if d is None or self.image is None:
            return
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / "image.tmp.png"
        Image.fromarray(self.image).save(tmp)
        os.replace(tmp, d / "image.png")
        ox, oy = dpg.get_item_rect_min("image_canvas")
        k = IMAGE_SIZE
        e = self.c.state.edit
        r = self.refine_last
        # distinct red values along the texture's middle row: at most one per image pixel when crisp, more smooth
        row_levels = int(np.unique(self.image_buf.reshape(IMAGE_SIZE, IMAGE_SIZE, 4)[IMAGE_SIZE // 2, :, 0]).size)
        state = {
            "frame": self.frames, "generation": self.c.state.generation, "shown": self.shown,
            "busy": self.worker.busy or self.refine_gen is not None or self.shown != self.c.state.generation,
            "resolution": self.info.resolution, "image_rect": self._rect("image_canvas"),
            "centres": [{"level": li, "index": ci, "x": x, "y": y, "sigma": sg, "enabled": en,
                         "screen": [ox + x * k, oy + y * k]} for li, ci, x, y, sg, en in self.c.centres()],
            "handles": e.handles, "targets": e.targets,
            "mask_pixels": 0 if e.mask is None else int(e.mask.sum()),
            "model": self.info.source, "heatmap_mode": self.info.heatmap_mode, "panels": len(self.panels),
            "buttons": {t: self._rect(t) for t in ("refine_run", "refine_stop", "clear_points", "undo", "redo", "paint_mask", "clear_mask",
                                                      "model_path", "open_model", "smooth_image",
                                                      "history_path", "export_history",
                                                      *(("carry",) if self.info.uses_heatmaps else ()))},
            "carry": e.carry,
            "refine": None if r is None else {"step": r.step, "max_steps": r.max_steps, "done": r.done,
                                               "distances": r.distances, "points": r.points,
                                               "progress_updates": self.refine_steps_seen, "error": r.error},
            "last_error": self.c.state.last_error, "undo_depth": len(self.c.state.undo_stack),
            "message": self.message, "fps": self.fps(),
            "inputs": {t: dpg.get_value(t) for t in ("history_path", "export_path", "session_path", "model_path")},
            "busy_frames": self.busy_frames, "busy_seconds": self.busy_seconds,
            "busy_max_gap_ms": self.busy_max_gap * 1000,
            "texture_row_levels": row_levels, "inert_levels": list(self.inert),
            "panel_labels": [dpg.get_value(f"panel_label_{i}") for i in range(len(self.panels))],
        }
        tmp = d / "state.tmp.json"
        tmp.write_text(json.dumps(state))
        os.replace(tmp, d / "state.json")

    # ---- frame loop -----------------------------------------------------------------------------------
    def fps(self) -> float:
        t = self.frame_times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0

    def _pace(self) -> None:
        now = time.monotonic()
        if self.frame_times and (self.worker.busy or self.refine_gen is not None):
            gap = now - self.frame_times[-1]
            self.busy_frames += 1
            self.busy_seconds += gap
            self.busy_max_gap = max(self.busy_max_gap, gap)
        self.frame_times.append(now)
        del self.frame_times[:-60]

    def safe_frame(self) -> None:
        """`frame()`, with any unexpected failure shown in the status line instead of closing the window."""
        try:
            self.frame()
        except Exception as exc:  # noqa: BLE001 - the editor must survive its own bugs; the work is autosaved
            self.c.state.last_error = f"internal error: {type(exc).__name__}: {exc}"
            self.overlay_dirty = True
            dpg.set_value("error", f"last error: {self.c.state.last_error}")  # frame() may not have reached it

    def frame(self) -> None:
        self._pace()
        dpg.run_callbacks(dpg.get_callback_queue())
        self._mouse()
        s = self.c.state
        if self.refine_gen is None and s.generation != self.submitted:
            self.worker.submit(self.c.render_request())
            self.submitted = s.generation
        shown_new = self._results()
        if self.image is not None and self.c.state.edit.mask is not self.shown_mask:
            self._upload()  # the mask was painted, cleared or undone
        if s.generation != self.synced:
            self._sync_widgets()
            self.overlay_dirty = True
        if self.overlay_dirty:
            self._draw_overlays()
        self._status()
        if time.monotonic() - self.last_autosave > AUTOSAVE_EVERY:
            self.last_autosave = time.monotonic()
            self.c.autosave()
        self.frames += 1
        # Positions are only known after the first frames have laid the window out.
        if self.opt.dump_dir is not None and (shown_new or self.frames in (3, 10) or self.frames % 30 == 0):
            self.dump()

    def run(self, screenshot: Path | None = None) -> None:
        if screenshot is None:
            while dpg.is_dearpygui_running() and self.next_model is None:
                self.safe_frame()
                dpg.render_dearpygui_frame()
        else:
            # Render until the first picture is shown (or give up after 20 s), then grab the frame buffer.
            end = time.monotonic() + 20
            while (self.shown < 0 or self.frames < 10) and time.monotonic() < end:
                self.safe_frame()
                dpg.render_dearpygui_frame()
                time.sleep(0.01)
            # The first render includes one-time warm-up; render the same picture again so the status line
            # shows the time a drag really costs.
            self.submitted, first = -1, self.ms
            while self.ms == first and time.monotonic() < end + 10:
                self.safe_frame()
                dpg.render_dearpygui_frame()
                time.sleep(0.01)
            for _ in range(3):
                self.safe_frame()
                dpg.render_dearpygui_frame()
            dpg.output_frame_buffer(file=str(screenshot))
            for _ in range(10):  # the frame buffer is written during a later frame
                self.safe_frame()
                dpg.render_dearpygui_frame()
        self.c.autosave()

    def destroy(self) -> None:
        """Remove this editor's window, textures and theme, so another model's editor can be built."""
        for tag in ("main", "textures", "error_theme"):
            if dpg.does_item_exist(tag):
                dpg.delete_item(tag)
