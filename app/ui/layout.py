"""The editor window's widgets, built from the model's capabilities: which panels, which buttons. Tags are the
names the view and the real-window tests find widgets by.

The window has a toolbar, the image (as large as the window allows; it zooms and pans), a scrolling column of
panels and controls beside it, and the status lines. Every value sits right of its own label.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import dearpygui.dearpygui as dpg
import numpy as np

from draggan import MODES, DragConfig
from spatialgan.paths import list_checkpoints

from ..messages import ModelInfo
from ..state import Edit
from .geometry import Canvas, panel_label

PANEL_SIZE = 180  # screen pixels of each heatmap panel (hierarchical: one per level)
OBJECTS_PANEL_SIZE = 288  # the one panel of a model with independent objects
CONTROLS_WIDTH = 600  # the column beside the image
CHROME_HEIGHT = 100  # the toolbar above the image and the status lines under it
LABEL_WIDTH = 110  # the label column of the controls
LATENT_CHOICES = ("w+ (first layers)", "w (all layers)")  # the first word is draggan.DragConfig.latent
SHORTCUTS = (
    ("Ctrl+Z", "undo"), ("Ctrl+Y or Ctrl+Shift+Z", "redo"),
    ("N / P  (Page Down / Page Up)", "next / previous seed"),
    ("R  (Ctrl+Enter)", "run the DragGAN refine"), ("Esc", "stop the refine or photo inversion"),
    ("M", "show or hide the centres on the image"), ("hold C", "compare: the scene before all edits"),
    ("mouse wheel, + / -", "zoom the image at the mouse"), ("middle drag, arrow keys", "pan a zoomed image"),
    ("0", "fit the whole image"), ("O", "object tool on / off"), ("Del", "remove the selected object"),
    ("F1 or H", "this help"),
)
Callback = Callable[[Any, Any, Any], None]


def texture_size(resolution: int) -> int:
    """Texels of the image texture: enough for a zoomed large model, a fixed 640 for small ones (upscaled)."""
    return 640 if resolution <= 640 else 1024


def short_path(source: str) -> str:
    """A checkpoint path relative to the working folder when it lies inside it (the label stays short)."""
    try:
        return str(Path(source).resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return source


def make_panels(info: ModelInfo) -> list[Canvas]:
    """One canvas per heatmap panel the model describes."""
    panels = info.capabilities.panels
    size = OBJECTS_PANEL_SIZE if len(panels) == 1 and panels[0].level is None else PANEL_SIZE
    return [Canvas(f"panel_{i}", size, p.level) for i, p in enumerate(panels)]


def _label(text: str) -> None:
    dpg.add_text(text)
    dpg.add_spacer(width=max(0, LABEL_WIDTH - 7 * len(text)))


def build_window(info: ModelInfo, panels: list[Canvas], image: Canvas, edit: Edit, image_buf: np.ndarray,
                 panel_bufs: list[np.ndarray], refine: DragConfig, can_open_models: bool, folder: str,
                 cb: Callback) -> None:
    caps = info.capabilities
    tex = texture_size(info.resolution)
    with dpg.texture_registry(tag="textures"):
        dpg.add_raw_texture(tex, tex, image_buf, format=dpg.mvFormat_Float_rgba, tag="image_tex")
        for i, (p, buf) in enumerate(zip(panels, panel_bufs)):
            dpg.add_raw_texture(p.size, p.size, buf, format=dpg.mvFormat_Float_rgba, tag=f"panel_tex_{i}")
    with dpg.theme(tag="error_theme"):
        with dpg.theme_component(dpg.mvText):
            dpg.add_theme_color(dpg.mvThemeCol_Text, (255, 110, 110))
    with dpg.handler_registry(tag="handlers"):
        dpg.add_mouse_wheel_handler(callback=cb, user_data="wheel")
    with dpg.window(tag="main", no_scrollbar=True):
        with dpg.group(horizontal=True):
            dpg.add_button(label="Undo", tag="undo", callback=cb, user_data="undo")
            dpg.add_button(label="Redo", tag="redo", callback=cb, user_data="redo")
            dpg.add_spacer(width=12)
            if can_open_models:
                # the bundled models open when picked; the path field takes any other checkpoint or pickle
                names = [short_path(str(p)) for p in list_checkpoints()]
                dpg.add_text("model")
                dpg.add_combo(names, tag="model_pick", width=220, default_value=short_path(info.source),
                              callback=cb, user_data="pick_model")
                # Enter in the field opens it, as the button does
                dpg.add_input_text(tag="model_path", width=220, default_value=short_path(info.source),
                                   hint="or a .safetensors / .pkl / .pt path", on_enter=True, callback=cb,
                                   user_data="open_model")
                dpg.add_button(label="Open model", tag="open_model", callback=cb, user_data="open_model")
            dpg.add_text(f"{'' if can_open_models else short_path(info.source)}  ({caps.description})",
                         color=(170, 170, 170))
            dpg.add_button(label="Help (F1)", tag="help_button", callback=cb, user_data="help")
        with dpg.group(horizontal=True):
            with dpg.drawlist(image.size, image.size, tag="image_canvas"):
                dpg.draw_image("image_tex", (0, 0), (image.size, image.size), tag="image_draw")
                dpg.add_draw_layer(tag="image_canvas_overlay")
            with dpg.child_window(tag="controls", width=CONTROLS_WIDTH, height=image.size, border=False):
                dpg.add_text(("Drag a centre to move its object. Click elsewhere on the image: a handle, then its "
                              "target.") if caps.has_heatmaps else "Click on the image: a handle, then its target."
                             + (" The object tool (O) selects and moves whole objects." if info.objects else ""),
                             color=(150, 150, 150), wrap=CONTROLS_WIDTH - 20)
                dpg.add_text("", tag="zoom_label", color=(150, 150, 150))
                with dpg.group(horizontal=True):
                    if caps.has_heatmaps:
                        dpg.add_checkbox(label="show centres (M)", tag="show_centres", default_value=True,
                                         callback=cb, user_data="overlay")
                    if info.discriminator:
                        dpg.add_checkbox(label="where D looks", tag="show_attention", default_value=False,
                                         callback=cb, user_data="attention")
                        with dpg.tooltip("show_attention"):
                            dpg.add_text("The discriminator's GradCAM on the picture: warm where it attends.\nOn a "
                                         "well-trained model with heatmaps, it follows the centres.")
                    # Off by default: crisp pixels show what the model made; on, a 64 px image reads better.
                    dpg.add_checkbox(label="smooth pixels", tag="smooth_image", default_value=False,
                                     callback=cb, user_data="smooth")
                    if caps.moves_objects:
                        dpg.add_checkbox(label="moved objects keep their look", tag="carry",
                                         default_value=edit.carry, callback=cb, user_data="carry")
                        with dpg.tooltip("carry"):
                            dpg.add_text("On: a moved object brings its look from where the seed put it.\nOff: the "
                                         "model redraws it at the new place, as the paper does; it may draw another "
                                         "one.")
                if panels:
                    dpg.add_text("Heatmap levels (drag the centres)" if caps.layout == "hierarchical"
                                 else "Objects heatmap (drag the centres)")
                    with dpg.group(horizontal=True):
                        for i, (canvas, panel) in enumerate(zip(panels, caps.panels)):
                            with dpg.group():
                                dpg.add_text(panel_label(panel.level, panel.resolution, panel.centres),
                                             tag=f"panel_label_{i}", color=(150, 150, 150), wrap=canvas.size)
                                with dpg.drawlist(canvas.size, canvas.size, tag=canvas.tag):
                                    dpg.draw_image(f"panel_tex_{i}", (0, 0), (canvas.size, canvas.size))
                                    dpg.add_draw_layer(tag=f"{canvas.tag}_overlay")
                _build_controls(info, edit, refine, folder, cb)
        dpg.add_separator()
        dpg.add_text("", tag="status")
        with dpg.tooltip("status"):  # the whole line, when the window is too narrow for it
            dpg.add_text("", tag="status_full", wrap=900)
        dpg.add_text("", tag="error", wrap=0)
        dpg.bind_item_theme("error", "error_theme")
    dpg.add_file_dialog(label="Choose the folder for exports and sessions", directory_selector=True, show=False,
                        tag="folder_dialog", width=560, height=380, callback=cb, user_data="folder_picked",
                        default_path=folder)
    with dpg.window(label="Keyboard and mouse", tag="help_window", show=False, width=460, height=370, pos=(200, 120),
                    no_collapse=True):
        for keys, what in SHORTCUTS:
            with dpg.group(horizontal=True):
                dpg.add_text(keys, color=(230, 200, 120))
                dpg.add_spacer(width=max(0, 200 - 7 * len(keys)))
                dpg.add_text(what)
        dpg.add_separator()
        dpg.add_text(("Left drag a centre: move its object. " if caps.has_heatmaps else "")
                     + "Left click: handle, then target.\nPaint flexible area: left paints, right erases.\n"
                     + "Object tool: click selects an object, Shift+click a part more or less, drag moves it.",
                     color=(150, 150, 150), wrap=430)


def _object_controls(cb: Callback) -> None:
    """The object tool: select an object by clicking it, move it by dragging, remove it."""
    with dpg.collapsing_header(label="Objects", default_open=True):
        with dpg.group(horizontal=True):
            dpg.add_checkbox(label="object tool (O)", tag="object_tool", callback=cb, user_data="object_tool")
            with dpg.tooltip("object_tool"):
                dpg.add_text("On: a click selects the object under it (outlined), found in the model's own features;"
                             "\nShift+click adds or takes away a part; drag the selection to move the object.")
            dpg.add_checkbox(label="refine moves", tag="object_refine", default_value=False)
            with dpg.tooltip("object_refine"):
                dpg.add_text("After each move, a DragGAN refine with handles spread over the object\n(the refine "
                             "settings below; Esc stops it).")
            dpg.add_button(label="Remove (Del)", tag="remove_object", callback=cb, user_data="remove_object")


def _build_controls(info: ModelInfo, edit: Edit, refine: DragConfig, folder: str, cb: Callback) -> None:
    caps = info.capabilities
    with dpg.collapsing_header(label="Scene", default_open=True):
        with dpg.group(horizontal=True):
            _label("seed")
            dpg.add_input_int(tag="seed", width=130, min_value=0, min_clamped=True, max_value=2 ** 31 - 1,
                              max_clamped=True, default_value=edit.seed, callback=cb, user_data="seed", on_enter=True)
            dpg.add_button(label="Random", tag="random_seed", callback=cb, user_data="random_seed")
            dpg.add_checkbox(label="keep layout", tag="keep_layout")
        with dpg.group(horizontal=True):
            _label("truncation psi")
            dpg.add_slider_float(tag="psi", width=260, min_value=0.0, max_value=1.0, default_value=edit.psi,
                                 callback=cb, user_data="psi")
        if caps.class_labels:  # a conditional model: which class to draw
            with dpg.group(horizontal=True):
                _label("class")
                dpg.add_combo(list(caps.class_labels), tag="class_label", width=260,
                              default_value=caps.class_labels[edit.label or 0], callback=cb, user_data="label")
    if caps.moves_objects:
        with dpg.collapsing_header(label="Selected centre", default_open=True):
            dpg.add_text("Nothing selected: click a centre on the image or a panel.", tag="sel_label",
                         color=(150, 150, 150))
            # a box of fixed height: selecting a centre shows its controls without moving what lies below
            with dpg.child_window(height=56, border=False, no_scrollbar=True), dpg.group(tag="sel_controls",
                                                                                         show=False):
                with dpg.group(horizontal=True):
                    _label("sigma")
                    dpg.add_slider_float(tag="sigma", width=260, min_value=0.01, max_value=0.6, callback=cb,
                                         user_data="sigma")
                with dpg.group(horizontal=True):
                    dpg.add_checkbox(label="present (untick to remove)", tag="enabled", callback=cb,
                                     user_data="enabled")
                    dpg.add_button(label="Replace object style", tag="replace", callback=cb, user_data="replace")
            with dpg.group(horizontal=True):
                _label("all sigmas")
                dpg.add_button(label="x 0.9", callback=cb, user_data=("scale", 0.9))
                dpg.add_button(label="x 1.1", callback=cb, user_data=("scale", 1.1))
                if caps.background_code is not None:
                    dpg.add_button(label="Replace background", tag="replace_bg", callback=cb, user_data="replace_bg")
    if info.objects:
        _object_controls(cb)
    with dpg.collapsing_header(label="DragGAN refine", default_open=True):
        # the widgets show the editor's refine settings and change them (Controller.set_refine)
        modes = MODES if caps.moves_objects else ("draggan",)
        with dpg.group(horizontal=True):
            _label("mode")
            dpg.add_combo(modes, tag="mode", width=110, default_value=refine.mode, callback=cb, user_data="mode")
            dpg.add_spacer(width=16)
            dpg.add_text("optimise")
            dpg.add_combo(LATENT_CHOICES, tag="latent", width=190, callback=cb, user_data="latent",
                          default_value=LATENT_CHOICES[("w+", "w").index(refine.latent)])
        with dpg.group(horizontal=True):
            _label("step size")
            dpg.add_input_float(tag="lr", width=130, default_value=refine.lr, format="%.4f", step=5e-4,
                                min_value=1e-5, min_clamped=True, max_value=1.0, max_clamped=True, callback=cb,
                                user_data="lr")
            dpg.add_spacer(width=16)
            dpg.add_text("max steps")
            dpg.add_input_int(tag="max_steps", width=110, default_value=refine.max_steps, min_value=1,
                              min_clamped=True, max_value=100000, max_clamped=True, callback=cb, user_data="max_steps")
        with dpg.group(horizontal=True):
            dpg.add_button(label="Run refine (R)", tag="refine_run", callback=cb, user_data="refine_run")
            dpg.add_button(label="Stop (Esc)", tag="refine_stop", callback=cb, user_data="refine_stop", enabled=False)
            dpg.add_button(label="Clear points", tag="clear_points", callback=cb, user_data="clear_points")
        dpg.add_text("", tag="points_label", wrap=CONTROLS_WIDTH - 30)
        with dpg.group(horizontal=True):
            dpg.add_checkbox(label="paint flexible area", tag="paint_mask")
            with dpg.tooltip("paint_mask"):
                dpg.add_text("On: left drag on the image paints where a refine may change the picture,\n"
                             "right drag erases. Off: clicks add handle and target points.")
            dpg.add_text("brush px")
            dpg.add_slider_int(tag="brush", width=90, min_value=1, max_value=32, default_value=8)
            dpg.add_button(label="Clear mask", tag="clear_mask", callback=cb, user_data="clear_mask")
        dpg.add_progress_bar(tag="refine_progress", width=560, default_value=0.0, overlay="idle")
    with dpg.collapsing_header(label="Files", default_open=True):
        with dpg.group(horizontal=True):
            _label("folder")
            dpg.add_input_text(tag="folder", width=330, default_value=folder, callback=cb, user_data="folder",
                               on_enter=True)
            dpg.add_button(label="Browse...", tag="browse_folder", callback=cb, user_data="browse")
        with dpg.group(horizontal=True):
            _label("session")
            dpg.add_input_text(tag="session_path", width=200, default_value="session.json")
            dpg.add_button(label="Save", tag="save_session", callback=cb, user_data="save")
            dpg.add_button(label="Load", tag="load_session", callback=cb, user_data="load")
            dpg.add_button(label="Load autosave", callback=cb, user_data="load_autosave")
        with dpg.group(horizontal=True):
            _label("image")
            dpg.add_input_text(tag="export_path", width=200, default_value="edit.png")
            dpg.add_button(label="Export PNG", tag="export_png", callback=cb, user_data="export")
        with dpg.group(horizontal=True):
            _label("history video")
            dpg.add_input_text(tag="history_path", width=200, default_value="history.mp4", hint=".mp4 or .gif")
            dpg.add_button(label="Export history", tag="export_history", callback=cb, user_data="export_history")
        with dpg.group(horizontal=True):
            _label("refine video")
            dpg.add_input_text(tag="refine_video_path", width=200, default_value="refine.mp4", hint=".mp4 or .gif")
            dpg.add_button(label="Export last refine", tag="export_refine", callback=cb, user_data="export_refine")
            dpg.add_checkbox(label="draw points", tag="video_points", default_value=True)
        with dpg.group(horizontal=True):
            _label("photo")
            dpg.add_input_text(tag="photo_path", width=200, hint="a photo to edit (png, jpg, ...)", on_enter=True,
                               callback=cb, user_data="open_photo")
            dpg.add_button(label="Open photo", tag="open_photo", callback=cb, user_data="open_photo")
            dpg.add_combo(("crop", "pad"), tag="photo_fit", width=70, default_value="crop")
