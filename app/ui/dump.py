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

from .tags import CLICKABLE, FILE_INPUTS, OPTIONAL

if TYPE_CHECKING:
    from .view import EditorView


def centres_shown() -> bool:
    """Whether the centres are drawn on the image (a model without heatmaps has no such box)."""
    return dpg.does_item_exist("show_centres") and bool(dpg.get_value("show_centres"))


def _rect(tag: str) -> list[float]:
    state = dpg.get_item_state(tag)
    if "rect_min" not in state:  # windows (the controls column) report a position and a size instead
        (x0, y0), (w, h) = dpg.get_item_pos(tag), dpg.get_item_rect_size(tag)
        return [x0, y0, x0 + w, y0 + h]
    (x0, y0), (x1, y1) = state["rect_min"], state["rect_max"]
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
    e, r = c.state.edit, p.job_last
    # distinct red values along the texture's middle row: at most one per image pixel when crisp, more smooth
    tex = view.tex
    row_levels = int(np.unique(view.image_buf.reshape(tex, tex, 4)[tex // 2, :, 0]).size)
    canvas, zoom = view.image_canvas, view.image_canvas.view
    selected = c.state.selected
    shown = view.p.original_image if view.showing_original else p.image
    _atomic_write(folder / "shown.png", lambda t: Image.fromarray(shown).save(t))
    state = {
        "frame": view.frames, "generation": c.state.generation, "shown": p.shown, "busy": p.busy,
        "resolution": p.info.resolution, "image_rect": _rect("image_canvas"),
        "centres": [{"level": li, "index": ci, "x": x, "y": y, "sigma": sg, "enabled": en,
                     "screen": list(canvas.to_screen((ox, oy), x, y))} for li, ci, x, y, sg, en in c.centres()],
        "handles": e.handles, "targets": e.targets,
        "mask_pixels": 0 if e.mask is None else int(e.mask.sum()),
        "model": p.info.source, "heatmap_layout": p.info.capabilities.layout, "panels": len(view.panels),
        "buttons": {t: _rect(t) for t in (*CLICKABLE, *(t for t in OPTIONAL if dpg.does_item_exist(t)))},
        "attention_shown": p.attention_shown is not None,
        "texture_mean_rgb": view.image_buf.reshape(tex, tex, 4)[..., :3].mean((0, 1)).tolist(),  # what is drawn
        "carry": e.carry,
        "refine": None if r is None or p.job_last_kind != "refine" else {
                                           "step": r.step, "max_steps": r.total, "done": r.done,
                                           "distances": r.distances, "points": r.points,
                                           "progress_updates": p.job_steps_seen, "error": r.error},
        "last_error": p.status.error, "undo_depth": len(c.state.undo_stack),
        "message": p.status.message, "job": p.status.job, "progress_text": p.status.bar_text, "fps": view.fps(),
        "inputs": {t: dpg.get_value(t) for t in FILE_INPUTS},
        "busy_frames": view.busy_frames, "busy_seconds": view.busy_seconds,
        "busy_max_gap_ms": view.busy_max_gap * 1000,
        "texture_row_levels": row_levels, "inert_levels": list(p.inert),
        "panel_labels": [dpg.get_value(f"panel_label_{i}") for i in range(len(view.panels))],
        "seed": e.seed, "selected": list(selected) if selected is not None else None,
        "sel_label": dpg.get_value("sel_label") if dpg.does_item_exist("sel_label") else None,
        "sel_controls_shown": bool(dpg.does_item_exist("sel_controls") and dpg.is_item_shown("sel_controls")),
        "save_status": c.save_status(), "folder": str(view.settings.folder),
        "zoom": None if zoom is None else {"zoom": zoom.zoom, "window": list(zoom.window())},
        "showing_original": view.showing_original, "show_centres": centres_shown(),
        "help_shown": bool(dpg.is_item_shown("help_window")),
        "viewport": [dpg.get_viewport_client_width(), dpg.get_viewport_client_height()],
        "viewport_pos": list(dpg.get_viewport_pos()), "refine_frames": len(p.refine_frames),
        "controls_rect": _rect("controls"),
        "object_map_ready": p.objects_shown is not None, "objects_moved": len(e.objects),
        "selection_cells": 0 if c.state.selection is None else int(c.state.selection.sum()),
    }
    _atomic_write(folder / "state.json", lambda t: t.write_text(json.dumps(state)))
