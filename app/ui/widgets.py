"""Keeping the widgets and the status line in step with the editor's state: a mixin of `EditorView`, called once
per frame (the status) and after every edit (the widgets)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import dearpygui.dearpygui as dpg

from spatialgan.errors import clean_text

from ..messages import ModelInfo
from .geometry import middle

if TYPE_CHECKING:
    from ..controller import Controller
    from ..presenter import Presenter


class WidgetSync:
    c: "Controller"
    p: "Presenter"
    info: ModelInfo
    synced: int

    if TYPE_CHECKING:
        def fps(self) -> float: ...

    def _sync_widgets(self) -> None:
        s = self.c.state
        e = s.edit
        caps = self.info.capabilities
        dpg.set_value("seed", e.seed)
        dpg.set_value("psi", e.psi)
        if caps.class_labels:
            dpg.set_value("class_label", caps.class_labels[min(e.label or 0, len(caps.class_labels) - 1)])
        if caps.moves_objects:
            dpg.set_value("carry", e.carry)
            selected = s.selected is not None and e.spec is not None
            if selected:
                li, ci = s.selected  # type: ignore[misc]
                cen = e.spec.levels[li][ci]  # type: ignore[union-attr]
                what = f"level {li}, centre {ci}" if caps.layout == "hierarchical" else f"object {ci}"
                x, y = e.spec.absolute(li, ci)  # type: ignore[union-attr]
                dpg.set_value("sel_label", f"{what}  at ({x:.2f}, {y:.2f})")
                dpg.set_value("sigma", cen.sigma)
                dpg.set_value("enabled", cen.enabled)
            else:  # nothing to describe: a hint, not the controls of a centre that is gone
                dpg.set_value("sel_label", "Nothing selected: click a centre on the image or a panel.")
            dpg.configure_item("sel_controls", show=selected)
            # a code of its own: object i is restyled through code i (level-0 centres name the objects)
            can_replace = s.selected is not None and s.selected[0] == 0 and s.selected[1] in caps.restylable
            dpg.configure_item("replace", enabled=can_replace)
        n = min(len(e.handles), len(e.targets))
        dpg.set_value("points_label", f"{n} handle/target pair{'s' if n != 1 else ''}"
                      + (" (+1 handle waiting for its target)" if len(e.handles) > n else "")
                      + (f", mask {int(e.mask.sum())} px" if e.mask is not None else ""))
        dpg.configure_item("undo", enabled=bool(s.undo_stack))
        dpg.configure_item("redo", enabled=bool(s.redo_stack))
        self.synced = s.generation

    def _status(self) -> None:
        """Draw the one status: what runs, the progress bar, the last outcome and the last error. Long texts are
        shortened in the middle (a path's start and its name both stay), the whole text on hover."""
        p, st = self.p, self.p.status
        saved = self.c.save_status()
        if self.c.state.saved_to and Path(self.c.state.saved_to).name in st.message:
            saved = ""  # "session saved: X" says it already
        parts = [f"device: {self.info.device}", f"{p.ms:.0f} ms per render", f"{self.fps():.0f} fps",
                 st.activity(p.worker.busy), *([saved] if saved else []), *([st.message] if st.message else [])]
        full = "   |   ".join(parts)
        dpg.set_value("status", middle(full, self.status_chars()))
        dpg.set_value("status_full", full)
        dpg.set_value("error", f"last error: {clean_text(st.error, 600)}" if st.error else "")
        dpg.set_value("refine_progress", st.bar_fraction)
        dpg.configure_item("refine_progress", overlay=middle(st.bar_text, 60))
        dpg.configure_item("refine_run", enabled=p.job is None)
        dpg.configure_item("refine_stop", enabled=p.job is not None)

    def status_chars(self) -> int:
        """How many characters of the status line fit the window (7 px each in the default font)."""
        return max(40, int(dpg.get_viewport_client_width() / 7) - 2)
