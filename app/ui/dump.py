"""Test hook: after every shown image, the editor writes the image and where things are on screen (viewport
pixels) to a folder, so the real-window tests can find a centre or a button and check what the window shows."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dearpygui.dearpygui as dpg
import numpy as np
from PIL import Image

from .layout import IMAGE_SIZE

if TYPE_CHECKING:
    from .view import EditorView

BUTTONS = ("refine_run", "refine_stop", "clear_points", "undo", "redo", "paint_mask", "clear_mask", "model_path",
           "open_model", "smooth_image", "history_path", "export_history", "photo_path", "open_photo", "session_path", "save_session", "load_session")
INPUTS = ("history_path", "export_path", "session_path", "model_path", "photo_path")


def _rect(tag: str) -> list[float]:
    x0, y0 = dpg.get_item_rect_min(tag)
    x1, y1 = dpg.get_item_rect_max(tag)
    return [x0, y0, x1, y1]


def _atomic_write(path: Path, write: Any) -> None:
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    write(tmp)
    os.replace(tmp, path)


def write_dump(view: "EditorView", folder: Path) -> None:
    p, c = view.p, view.c
    if p.image is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_write(folder / "image.png", lambda t: Image.fromarray(p.image).save(t))
    ox, oy = dpg.get_item_rect_min("image_canvas")
    e, r = c.state.edit, p.refine_last
    # distinct red values along the texture's middle row: at most one per image pixel when crisp, more smooth
    row_levels = int(np.unique(view.image_buf.reshape(IMAGE_SIZE, IMAGE_SIZE, 4)[IMAGE_SIZE // 2, :, 0]).size)
    has_carry = p.info.capabilities.moves_objects
    state = {
        "frame": view.frames, "generation": c.state.generation, "shown": p.shown, "busy": p.busy,
        "resolution": p.info.resolution, "image_rect": _rect("image_canvas"),
        "centres": [{"level": li, "index": ci, "x": x, "y": y, "sigma": sg, "enabled": en,
                     "screen": [ox + x * IMAGE_SIZE, oy + y * IMAGE_SIZE]} for li, ci, x, y, sg, en in c.centres()],
        "handles": e.handles, "targets": e.targets,
        "mask_pixels": 0 if e.mask is None else int(e.mask.sum()),
        "model": p.info.source, "heatmap_layout": p.info.capabilities.layout, "panels": len(view.panels),
        "buttons": {t: _rect(t) for t in (*BUTTONS, *(("carry",) if has_carry else ()))},
        "carry": e.carry,
        "refine": None if r is None else {"step": r.step, "max_steps": r.max_steps, "done": r.done,
                                           "distances": r.distances, "points": r.points,
                                           "progress_updates": p.refine_steps_seen, "error": r.error},
        "last_error": c.state.last_error, "undo_depth": len(c.state.undo_stack),
        "message": p.message, "fps": view.fps(),
        "inputs": {t: dpg.get_value(t) for t in INPUTS},
        "busy_frames": view.busy_frames, "busy_seconds": view.busy_seconds,
        "busy_max_gap_ms": view.busy_max_gap * 1000,
        "texture_row_levels": row_levels, "inert_levels": list(p.inert),
        "panel_labels": [dpg.get_value(f"panel_label_{i}") for i in range(len(view.panels))],
    }
    _atomic_write(folder / "state.json", lambda t: t.write_text(json.dumps(state)))
