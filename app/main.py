"""Editor entry point (`spatialgan-gui`, `python run_gui.py`).

The interactive editor (heatmap panels, dragging, DragGAN refine) is not built yet. Until it is, this
launcher renders a sample of the bundled default model, with its heatmap panels, and shows it in a window
(or, without a display, writes it to a PNG).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from spatialgan import pick_device
from spatialgan.cli.common import add_model_args, load_model, run_cli
from spatialgan.cli.sample import render_row
from spatialgan.device import describe
from spatialgan.paths import default_checkpoint
from spatialgan.visual import grid


def has_display() -> bool:
    # Dear PyGui aborts the whole process when it cannot open a window, so look before creating one.
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def show_window(picture: np.ndarray, title: str, lines: list[str], screenshot: Path | None = None) -> None:
    """Show the picture; with `screenshot`, render a few frames, save the window's frame buffer and close."""
    import dearpygui.dearpygui as dpg

    h, w = picture.shape[:2]
    rgba = np.concatenate([picture, np.full((h, w, 1), 255, np.uint8)], -1).astype(np.float32) / 255.0
    dpg.create_context()
    with dpg.texture_registry():
        dpg.add_static_texture(w, h, rgba.ravel().tolist(), tag="sample")
    with dpg.window(tag="main"):
        for line in lines:
            dpg.add_text(line)
        dpg.add_image("sample")
    dpg.create_viewport(title=title, width=max(w + 40, 520), height=h + 40 + 22 * len(lines))
    dpg.setup_dearpygui()
    dpg.show_viewport()
    dpg.set_primary_window("main", True)
    if screenshot is None:
        dpg.start_dearpygui()
    else:
        for _ in range(10):
            dpg.render_dearpygui_frame()
        dpg.output_frame_buffer(file=str(screenshot))
        for _ in range(10):  # the frame buffer is written during a later frame
            dpg.render_dearpygui_frame()
    dpg.destroy_context()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="spatialgan-gui", description=__doc__.split("\n\n")[0])
    add_model_args(ap)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--psi", type=float, default=0.7)
    ap.add_argument("--out", type=Path, help="also save the picture here (PNG)")
    ap.add_argument("--no-window", action="store_true", help="only write the PNG")
    ap.add_argument("--screenshot", type=Path, help="open the window, save a screenshot of it here and exit")
    args = ap.parse_args(argv)

    def body() -> int:
        notice = []
        if not args.checkpoint and not args.untrained and default_checkpoint() is None:
            args.untrained = "64:sel_indoor"
            notice.append("No trained model is bundled yet: showing an UNTRAINED 64 px rooms network.")
        device = pick_device(args.device)
        G, source = load_model(args, device)
        with torch.inference_mode():
            picture = grid(render_row(G, args.seed, args.psi, None, scale=4), columns=4)
        lines = notice + [f"model: {source}", f"seed {args.seed}, psi {args.psi}, device {describe(device)}",
                          "Image with heatmap centres, then one heatmap panel per encoded level. "
                          "(Interactive editing: coming with the editor.)"]
        out = args.out or Path(tempfile.gettempdir()) / "spatialgan-preview.png"
        Image.fromarray(picture).save(out)
        for line in lines:
            print(line)
        print(f"picture saved to {out}")
        if args.no_window:
            return 0
        if not has_display():
            print("no display found (DISPLAY is unset): not opening a window")
            return 0
        try:
            import dearpygui  # noqa: F401
        except ImportError:
            print('Dear PyGui is not installed: pip install -c constraints.txt -e ".[gui]"')
            return 0
        show_window(picture, "SpatialGAN", lines, args.screenshot)
        if args.screenshot is not None:
            print(f"screenshot saved to {args.screenshot}")
        return 0

    return run_cli(body)


if __name__ == "__main__":
    raise SystemExit(main())
