"""Looking around the editor's picture: zoom (wheel, +/-), pan (middle drag, arrows), fit to the window as it
is resized, the help window, and the keyboard shortcuts it lists. A part of `EditorView`, kept apart so that
the view's own module stays about drawing and editing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import dearpygui.dearpygui as dpg

from .geometry import Canvas, image_side
from .layout import CHROME_HEIGHT, CONTROLS_WIDTH
from .tags import TEXT_INPUTS

if TYPE_CHECKING:
    from ..controller import Controller
    from ..presenter import Presenter

ZOOM_STEP = 1.25  # per wheel notch or +/- key
# Dear PyGui 2 names some keys by their old Windows codes, which its key queries do not understand; these are
# Dear ImGui's own codes for them (the named arrows are 513-516, and ImGui numbers the keys in order from there).
KEY_PAGE_UP, KEY_PAGE_DOWN = dpg.mvKey_Up + 2, dpg.mvKey_Up + 3
KEY_EQUAL = dpg.mvKey_Minus + 4  # the "=" / "+" key beside minus


class Navigation:
    """Zoom, pan, fit, help and shortcuts of the editor view (mixed into `EditorView`)."""

    c: "Controller"
    p: "Presenter"
    image_canvas: Canvas
    overlay_dirty: bool
    client: tuple[int, int]
    pan_from: tuple[float, float] | None
    _callback: Callable[[Any, Any, Any], None]  # the view's: runs an action as a widget would
    _object_keys: Callable[[Callable[[Any], bool]], bool]  # the object tool's keys (`ObjectTool`)

    def _wheel(self, notches: float) -> None:
        if not notches or not dpg.is_item_hovered("image_canvas"):
            return
        mx, my = dpg.get_mouse_pos(local=False)
        x, y = self.image_canvas.to_image(tuple(dpg.get_item_rect_min("image_canvas")), mx, my)  # type: ignore[arg-type]
        self._zoom(ZOOM_STEP ** notches, x, y)

    def _zoom(self, factor: float, x: float | None = None, y: float | None = None) -> None:
        view = self.image_canvas.view
        assert view is not None
        x0, y0, w = view.window()
        view.zoom_at(factor, x0 + w / 2 if x is None else x, y0 + w / 2 if y is None else y)
        self._show_window()

    def _show_window(self) -> None:
        """Draw the part of the texture the view shows, and say where we are."""
        view = self.image_canvas.view
        assert view is not None
        x0, y0, w = view.window()
        dpg.configure_item("image_draw", uv_min=(x0, y0), uv_max=(x0 + w, y0 + w))
        dpg.set_value("zoom_label", "wheel: zoom, hold C: compare with the original, F1: help" if view.zoom == 1
                      else f"zoom {view.zoom:.1f}x: middle drag or arrows pan, 0 fits the image")
        self.overlay_dirty = True

    def _toggle_help(self) -> None:
        dpg.configure_item("help_window", show=not dpg.is_item_shown("help_window"))

    def _fit(self) -> None:
        """Size the image to the window (once at start, and whenever the window is resized)."""
        client = (dpg.get_viewport_client_width(), dpg.get_viewport_client_height())
        if client == self.client or min(client) <= 0:
            return
        self.client = client
        side = image_side(client, CONTROLS_WIDTH, CHROME_HEIGHT)
        self.image_canvas.size = side
        dpg.configure_item("image_canvas", width=side, height=side)
        dpg.configure_item("image_draw", pmax=(side, side))
        dpg.configure_item("controls", height=max(200, client[1] - CHROME_HEIGHT),
                           width=max(300, min(CONTROLS_WIDTH, client[0] - side - 24)))
        self._show_window()

    def _middle_pan(self, mx: float, my: float) -> None:
        """Middle button held over a zoomed image: the picture follows the mouse."""
        if not dpg.is_mouse_button_down(dpg.mvMouseButton_Middle):
            self.pan_from = None
            return
        if self.pan_from is None:
            self.pan_from = (mx, my) if dpg.is_item_hovered("image_canvas") else None
            return
        view = self.image_canvas.view
        assert view is not None
        dx, dy = mx - self.pan_from[0], my - self.pan_from[1]
        if dx or dy:
            view.pan(-dx / self.image_canvas.scale, -dy / self.image_canvas.scale)
            self.pan_from = (mx, my)
            self._show_window()

    def _keys(self) -> None:
        """Keyboard shortcuts (listed in the help window); none while a text field has the keyboard."""
        typing = any(dpg.does_item_exist(t) and dpg.is_item_active(t) for t in TEXT_INPUTS)
        ctrl = dpg.is_key_down(dpg.mvKey_LControl) or dpg.is_key_down(dpg.mvKey_RControl)
        self.p.want_original = not typing and not ctrl and dpg.is_key_down(dpg.mvKey_C)
        if typing:
            return
        shift = dpg.is_key_down(dpg.mvKey_LShift) or dpg.is_key_down(dpg.mvKey_RShift)
        pressed = dpg.is_key_pressed
        keep = bool(dpg.get_value("keep_layout"))
        if ctrl:
            if pressed(dpg.mvKey_Z):
                self.c.redo() if shift else self.c.undo()
            elif pressed(dpg.mvKey_Y):
                self.c.redo()
            elif pressed(dpg.mvKey_Return):
                self._callback(None, None, "refine_run")
            return
        if self._object_keys(pressed):
            return
        view = self.image_canvas.view
        assert view is not None
        step = 0.1 / view.zoom
        if pressed(dpg.mvKey_N) or pressed(KEY_PAGE_DOWN):
            self.c.set_seed(self.c.state.edit.seed + 1, keep_layout=keep)
        elif (pressed(dpg.mvKey_P) or pressed(KEY_PAGE_UP)) and self.c.state.edit.seed > 0:
            self.c.set_seed(self.c.state.edit.seed - 1, keep_layout=keep)
        elif pressed(dpg.mvKey_R):
            self._callback(None, None, "refine_run")
        elif pressed(dpg.mvKey_Escape):
            self.p.stop()
        elif pressed(dpg.mvKey_M) and dpg.does_item_exist("show_centres"):  # a model without centres has no box
            dpg.set_value("show_centres", not dpg.get_value("show_centres"))
            self.overlay_dirty = True
        elif pressed(dpg.mvKey_F1) or pressed(dpg.mvKey_H):
            self._toggle_help()
        elif pressed(dpg.mvKey_0):
            view.reset()
            self._show_window()
        elif pressed(KEY_EQUAL) or pressed(dpg.mvKey_Add):
            self._zoom(ZOOM_STEP)
        elif pressed(dpg.mvKey_Minus) or pressed(dpg.mvKey_Subtract):
            self._zoom(1 / ZOOM_STEP)
        else:
            for key, dx, dy in ((dpg.mvKey_Left, -step, 0), (dpg.mvKey_Right, step, 0), (dpg.mvKey_Up, 0, -step),
                                (dpg.mvKey_Down, 0, step)):
                if pressed(key) and view.zoom > 1:
                    view.pan(dx, dy)
                    self._show_window()
