"""The Dear PyGui view: draws what the presenter says changed and turns mouse and widget events into controller
and presenter calls. All Dear PyGui calls happen on this (the GUI) thread; callbacks are queued and run from
`frame()` (manual callback management), so no state is shared with Dear PyGui's own threads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import dearpygui.dearpygui as dpg
import numpy as np

from spatialgan.errors import SpatialGANError

from ..controller import Controller
from ..presenter import Presenter, Update
from ..settings import Settings, shown
from .actions import Actions
from .dump import centres_shown, write_dump
from .geometry import (Canvas, View, centre_colour, heatmap_rgba, hit_centre, image_rgba, outline_region,
                       panel_label, shade_outside, tint_attention)
from .layout import build_window, make_panels, texture_size
from .navigation import Navigation
from .object_tool import ObjectTool
from .widgets import WidgetSync

AUTOSAVE_EVERY = 10.0  # seconds


@dataclass
class ViewOptions:
    refine_steps: int = 200
    dump_dir: Path | None = None  # test hook: write image.png + state.json after every shown image
    # Loads a checkpoint for "Open model" (raises SpatialGANError for a bad file); None hides the picker.
    open_model: Callable[[str, Callable[[str], None]], Any] | None = None  # (path, progress) -> (model, source)
    invert_steps: int = 100  # per stage, when a photo is opened


class EditorView(Actions, WidgetSync, Navigation, ObjectTool):
    def __init__(self, controller: Controller, presenter: Presenter, options: ViewOptions) -> None:
        self.c, self.p, self.opt = controller, presenter, options
        self.info = presenter.info
        self.settings = Settings.load()
        self.image_canvas = Canvas("image_canvas", 640, None, View())
        self.tex = texture_size(self.info.resolution)
        self.panels = make_panels(self.info)
        self.image_buf = np.zeros(self.tex * self.tex * 4, np.float32)
        self.panel_bufs = [np.zeros(p.size * p.size * 4, np.float32) for p in self.panels]
        self.drag: tuple[Canvas, int, int, int] | None = None  # canvas, level, index, gesture
        self.mouse_was_down = False
        self.right_was_down = False
        self.stroke: tuple[bool, int] | None = None  # mask painting: (paint or erase, gesture)
        self.shown_mask: np.ndarray | None = None  # the mask the image texture was shaded with
        self.shown_selection: np.ndarray | None = None  # the object selection outlined on it
        self.object_drag: tuple[float, float, int, bool] | None = None  # an object tool gesture under way
        self.last_mouse: tuple[float, float] | None = None
        self.overlay_dirty = True
        self.synced = -1
        self.last_autosave = time.monotonic()
        self.frames = 0
        self.next_model: Any = None  # what open_model returned: the caller rebuilds the editor on it
        self.pending_session: Path | None = None  # a session to load once the model it names is open
        self.frame_times: list[float] = []  # monotonic times of the last frames, for the fps in the status line
        # Frame pacing while the worker renders or refines (the window must stay >= 30 fps then).
        self.busy_frames, self.busy_seconds, self.busy_max_gap = 0, 0.0, 0.0
        self.client: tuple[int, int] = (0, 0)  # the window's client size the layout was fitted to
        self.pan_from: tuple[float, float] | None = None  # mouse position of a middle-button pan
        self.showing_original = False  # the compare key is held and the original picture is on screen
        self.actions = self._actions()
        self.c.set_refine(max_steps=options.refine_steps)

    def build(self) -> None:
        build_window(self.info, self.panels, self.image_canvas, self.c.state.edit, self.image_buf, self.panel_bufs,
                     self.c.state.refine, self.opt.open_model is not None, shown(self.settings.folder),
                     self._callback)

    # ---- actions --------------------------------------------------------------------------------------
    def _callback(self, sender: Any, app_data: Any, user_data: Any) -> None:
        try:
            if isinstance(user_data, tuple) and user_data[0] == "scale":
                self.c.scale_sigmas(user_data[1])
            else:
                self.actions[user_data](app_data)
            self.overlay_dirty = True
        except (SpatialGANError, ValueError, IndexError, OSError) as exc:
            self.p.status.fail(str(exc))
        except Exception as exc:  # noqa: BLE001 - an unexpected failure is shown, never fatal to the editor
            self.p.status.fail(f"{type(exc).__name__}: {exc}")

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
        busy = self.p.refining
        if self._paint(mx, my, busy, pressed, right_pressed, down, right) or self._object_tool(mx, my, busy, pressed,
                                                                                                  down):
            return
        if pressed and not busy:
            hit = self._canvas_under_mouse()
            if hit is not None:
                canvas, origin = hit
                x, y = canvas.to_image(origin, mx, my)
                show = canvas is not self.image_canvas or centres_shown()
                found = hit_centre(self.c.centres(), canvas.level, canvas.scale, x, y) if show else None
                if found is not None:
                    self.c.select(*found)
                    self.synced = -1  # show the selection's sigma and state
                    self.drag = (canvas, found[0], found[1], self.c.new_gesture())
                    self.last_mouse = (mx, my)
                elif canvas is self.image_canvas:
                    r = self.info.resolution
                    self._say(f"{self.c.add_point(x * r - 0.5, y * r - 0.5)} point added")
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
        self._middle_pan(mx, my)

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

    # ---- drawing --------------------------------------------------------------------------------------
    def _upload(self, image: np.ndarray | None = None) -> None:
        """Put the presenter's image (or `image`: the original, for the compare key) on screen, shaded outside
        the flexible-area mask."""
        if image is None:
            assert self.p.image is not None
            self.shown_mask, self.shown_selection = self.c.state.edit.mask, self.c.state.selection
            image = outline_region(shade_outside(self.p.image, self.shown_mask), self.shown_selection)
            if self.p.attention_shown is not None:
                image = tint_attention(image, self.p.attention_shown)
        # a draft is coarse: shown smoothed, so it reads as a blurred picture rather than blocks
        image_rgba(image, self.tex, out=self.image_buf,
                   smooth=bool(dpg.get_value("smooth_image")) or self.p.shown_draft)
        dpg.set_value("image_tex", self.image_buf)

    def _compare(self) -> None:
        """While the compare key is held, the scene before all edits replaces the current picture."""
        want = self.p.want_original and self.p.original_image is not None
        if want and not self.showing_original:
            self._upload(self.p.original_image)
        elif not want and self.showing_original and self.p.image is not None:
            self._upload()
        self.showing_original = want

    def _apply(self, u: Update) -> bool:
        """Draw what one presenter tick changed; True when a new picture is on screen."""
        if (u.image is not None or u.attention is not None) and not self.showing_original:
            self._upload()
        if u.attention_failed:
            dpg.set_value("show_attention", False)
        for i, heat in enumerate(u.heatmaps[: len(self.panels)]):
            self.panel_bufs[i][:] = heatmap_rgba(heat, self.panels[i].size)
            dpg.set_value(f"panel_tex_{i}", self.panel_bufs[i])
        if u.job is not None:
            self.overlay_dirty = True  # tracked handles moved
        if u.inert is not None:  # mark the panels of levels whose centres barely change the picture
            for i, (inert, panel) in enumerate(zip(u.inert, self.info.capabilities.panels)):
                dpg.set_value(f"panel_label_{i}", panel_label(panel.level, panel.resolution, panel.centres, inert))
                dpg.configure_item(f"panel_label_{i}", color=(230, 170, 80) if inert else (150, 150, 150))
        return u.image is not None

    def _draw_overlays(self) -> None:
        by_level = self.info.capabilities.layout == "hierarchical"
        centres = self.c.centres()
        sel = self.c.state.selected
        for canvas in [self.image_canvas, *self.panels]:
            layer = f"{canvas.tag}_overlay"
            dpg.delete_item(layer, children_only=True)
            if canvas is self.image_canvas and not centres_shown():
                centres_here = []
            else:
                centres_here = [c for c in centres if canvas.level is None or c[0] == canvas.level]
            for li, ci, x, y, sigma, enabled in centres_here:
                sx, sy = canvas.to_local(x, y)
                colour = centre_colour(by_level, li, ci)
                if canvas is not self.image_canvas:  # the panels show each Gaussian's extent
                    dpg.draw_circle((sx, sy), sigma * canvas.scale, color=(*colour, 110), parent=layer)
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
        r = self.info.resolution

        def scr(p: tuple[float, float]) -> tuple[float, float]:
            return self.image_canvas.to_local((p[0] + 0.5) / r, (p[1] + 0.5) / r)

        handles = self.p.tracked if self.p.tracked else e.handles
        for i, h in enumerate(handles):
            if i < len(e.targets):
                dpg.draw_arrow(scr(e.targets[i]), scr(h), color=(255, 255, 255, 200), thickness=2, size=6,
                               parent=layer)
            dpg.draw_circle(scr(h), 5, fill=(255, 40, 40, 255), color=(255, 255, 255, 255), parent=layer)
        for t in e.targets:
            dpg.draw_circle(scr(t), 5, fill=(40, 110, 255, 255), color=(255, 255, 255, 255), parent=layer)

    # ---- frame loop -----------------------------------------------------------------------------------
    def fps(self) -> float:
        t = self.frame_times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0

    def _pace(self) -> None:
        now = time.monotonic()
        if self.frame_times and (self.p.worker.busy or self.p.refining):
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
            self.p.status.fail(f"internal error: {type(exc).__name__}: {exc}")
            if self.opt.dump_dir is not None:  # tests: say where, once per kind
                import traceback

                traceback.print_exc()
            self.overlay_dirty = True
            dpg.set_value("error", f"last error: {self.p.status.error}")  # frame() may not have reached it

    def frame(self) -> None:
        self._pace()
        self._fit()
        dpg.run_callbacks(dpg.get_callback_queue())
        self.next_model = self.p.next_model
        if self.next_model is None and not self.p.loading_model:
            self.pending_session = None  # the model it needed failed to open (the error is shown)
        self._mouse()
        self._keys()
        # A held button is a gesture (a drag, a slider): slow models show drafts until it ends or pauses.
        self.p.gesture(self.mouse_was_down)
        s = self.c.state
        shown_new = self._apply(self.p.tick())
        if (self.p.image is not None and (s.edit.mask is not self.shown_mask or s.selection is not self.shown_selection)
                and not self.showing_original):
            self._upload()  # the mask was painted, cleared or undone, or the object selection changed
        self._compare()
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
        if self.opt.dump_dir is not None and (shown_new or self.frames in (3, 10) or self.frames % 10 == 0):
            write_dump(self, self.opt.dump_dir)

    def _frames(self, n: int = 1) -> None:
        for _ in range(n):
            self.safe_frame()
            dpg.render_dearpygui_frame()

    def run(self, screenshot: Path | None = None) -> None:
        if screenshot is None:
            while dpg.is_dearpygui_running() and self.next_model is None:
                self._frames()
        else:
            # Render until the first picture is shown (or give up after 20 s), then grab the frame buffer.
            end = time.monotonic() + 20
            while (self.p.shown < 0 or self.frames < 10) and time.monotonic() < end:
                self._frames()
                time.sleep(0.01)
            # The first render includes one-time warm-up; render the same picture again so the status line
            # shows the time a drag really costs.
            self.p.rerender()
            first = self.p.ms
            while self.p.ms == first and time.monotonic() < end + 10:
                self._frames()
                time.sleep(0.01)
            self._frames(3)
            dpg.output_frame_buffer(file=str(screenshot))
            self._frames(10)  # the frame buffer is written during a later frame
        self.c.autosave()

    def destroy(self) -> None:
        """Remove this editor's window, textures and theme, so another model's editor can be built."""
        for tag in ("main", "textures", "error_theme", "handlers", "help_window", "folder_dialog"):
            if dpg.does_item_exist(tag):
                dpg.delete_item(tag)
