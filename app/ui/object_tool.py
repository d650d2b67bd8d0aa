"""The object tool on the editor's picture (a part of `EditorView`): a click selects the object under it, Shift+click
grows or shrinks the selection, a drag that starts inside the selection moves the object, and on release the move is
refined when "refine moves" is ticked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import dearpygui.dearpygui as dpg

from .geometry import Canvas

if TYPE_CHECKING:
    from ..controller import Controller
    from ..presenter import Presenter


class ObjectTool:
    c: "Controller"
    p: "Presenter"
    image_canvas: Canvas
    overlay_dirty: bool
    object_drag: tuple[float, float, int, bool] | None  # where it began (image units), gesture, moved yet
    _say: Callable[[str], None]
    _start_refine: Callable[..., None]

    def _image_point(self, mx: float, my: float) -> tuple[float, float]:
        return self.image_canvas.to_image(tuple(dpg.get_item_rect_min("image_canvas")), mx, my)  # type: ignore[arg-type]

    def _object_tool(self, mx: float, my: float, busy: bool, pressed: bool, down: bool) -> bool:
        """Select, move or refine with the object tool; True when it used the mouse."""
        if self.object_drag is None:
            if (busy or not pressed or not dpg.does_item_exist("object_tool") or not dpg.get_value("object_tool")
                    or not dpg.is_item_hovered("image_canvas")):
                return False
            x, y = self._image_point(mx, my)
            shift = dpg.is_key_down(dpg.mvKey_LShift) or dpg.is_key_down(dpg.mvKey_RShift)
            if not shift and self.c.selection_contains(x, y):
                self.object_drag = (x, y, self.c.new_gesture(), False)
                return True
            found = self.p.objects_shown
            if found is None:
                self._say("finding the objects in this picture: click again in a moment")
            elif not self.c.select_object(x, y, found, grow=shift):
                self._say("nothing selected")
            elif self.c.selection_on_object(found):
                self._say("object selected: drag it to move it, Del removes it, Shift+click adds or takes away a part")
            else:
                self._say("no object near the click: a part of the background is selected (drag moves it, Del "
                          "removes it); click an object to select it instead")
            return True
        x0, y0, gesture, moved = self.object_drag
        if down:
            x, y = self._image_point(mx, my)
            if (x, y) != (x0, y0):
                self.c.move_object(x - x0, y - y0, gesture)
                self.object_drag = (x0, y0, gesture, True)
            return True
        self.object_drag = None
        if moved and dpg.get_value("object_refine"):
            self._start_refine(objects=True)
        return True

    def _object_keys(self, pressed: Callable[[Any], bool]) -> bool:
        """O switches the tool, Del removes the selected object; True when a key was used."""
        if pressed(dpg.mvKey_O) and dpg.does_item_exist("object_tool"):
            on = not dpg.get_value("object_tool")
            dpg.set_value("object_tool", on)
            self.p.show_objects(on)
            if not on:
                self.c.clear_selection()
            return True
        if pressed(dpg.mvKey_Delete) and self.c.state.selection is not None:
            self.c.remove_object()
            return True
        return False
