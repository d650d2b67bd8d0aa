"""Editor entry point (`spatialgan-gui`, `python run_gui.py`): move, resize, remove and restyle objects by
editing their heatmap centres, then refine with DragGAN point dragging.

Without a display it prints a message and exits instead of opening a window.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator

from spatialgan.cli.common import PSI, SEED, add_model_args, number, parsed, report, run_cli
from spatialgan.errors import SpatialGANError
from spatialgan.files import check_output, check_output_folder
from spatialgan.paths import default_checkpoint

if TYPE_CHECKING:  # Dear PyGui and the model's classes are imported only once a window can open
    import torch

    from spatialgan import Generator

    from .ui.view import EditorView, ViewOptions

DEFAULT_SEED = 3  # the scene of the README's screenshot, so a new user opens on the picture they saw
DUMP_ENV = "SPATIALGAN_GUI_DUMP"  # test hook: folder for image.png + state.json after every shown image


def has_display() -> bool:
    # Dear PyGui aborts the whole process when it cannot open a window, so look before creating one.
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


@contextmanager
def screen() -> Iterator[tuple[int, int] | None]:
    """The desktop's size in pixels, asked of the X server (Linux) or Windows; None where unknown. On X the probe's
    connection stays open until the block ends, so open the window inside it: on a server with no other client,
    closing the only connection resets the server, and a window GLFW opens meanwhile fails (it aborts)."""
    display, x11 = None, None
    try:
        size = None
        try:
            import ctypes
            import ctypes.util

            if sys.platform.startswith("win"):
                user32 = ctypes.windll.user32  # type: ignore[attr-defined]
                size = int(user32.GetSystemMetrics(0)), int(user32.GetSystemMetrics(1))
            elif (name := ctypes.util.find_library("X11")) and os.environ.get("DISPLAY"):
                x11 = ctypes.cdll.LoadLibrary(name)
                x11.XOpenDisplay.restype = ctypes.c_void_p
                x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
                for f in (x11.XDefaultScreen, x11.XCloseDisplay):
                    f.argtypes = [ctypes.c_void_p]
                x11.XDisplayWidth.argtypes = x11.XDisplayHeight.argtypes = [ctypes.c_void_p, ctypes.c_int]
                display = x11.XOpenDisplay(None)
                if display:
                    number = x11.XDefaultScreen(display)
                    size = int(x11.XDisplayWidth(display, number)), int(x11.XDisplayHeight(display, number))
        except (OSError, AttributeError, ValueError):
            size = None
        yield size
    finally:
        if display and x11 is not None:
            x11.XCloseDisplay(display)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="spatialgan-gui", description=__doc__.split("\n\n")[0])
    add_model_args(ap)
    ap.add_argument("--seed", type=SEED, default=DEFAULT_SEED,
                    help=f"the picture to start from (default {DEFAULT_SEED}, the one the README shows)")
    ap.add_argument("--psi", type=PSI, default=0.7, help="truncation (default 0.7)")
    ap.add_argument("--session", type=Path, help="open a saved edit session (JSON)")
    ap.add_argument("--refine-steps", type=number(1, 100000, integer=True), default=200,
                    help="default max steps of a DragGAN refine")
    ap.add_argument("--invert-steps", type=number(1, 100000, integer=True), default=100,
                    help="steps per stage when a photo is opened")
    ap.add_argument("--screenshot", type=Path, help="open the window, save a screenshot of it here and exit "
                                                    "(with the centre nearest the image middle selected)")
    ap.add_argument("--dump-dir", type=Path, default=os.environ.get(DUMP_ENV) or None,
                    help=f"write the shown image and on-screen positions here after every render "
                         f"(for tests; also ${DUMP_ENV})")
    return ap.parse_args(argv)


def build_editor(G: "Generator", device: "torch.device", source: str, seed: int, psi: float,
                 options: "ViewOptions", message: str = "", session: Path | None = None) -> "EditorView":
    """The editor on a model: its worker (which owns the model), controller, presenter and window. The one place
    an editor is put together, at start-up and whenever another model is opened."""
    from .controller import Controller
    from .presenter import Presenter
    from .ui.view import EditorView
    from .worker import Worker

    from spatialgan.loading import may_hold_discriminator

    worker = Worker(G, device, source, source if may_hold_discriminator(source) else "")
    try:
        info = worker.info
        controller = Controller.for_worker(worker, seed, psi)
        if session is not None:
            controller.load_session(session)
            controller.state.undo_stack.clear()
        presenter = Presenter(controller, worker)
        presenter.status.say(message)
        view = EditorView(controller, presenter, options)
        view.build()
    except BaseException:
        worker.close()
        raise
    print(f"model: {source}  device: {info.device}")
    return view


def session_model(session: Path, checkpoint: str | None, untrained: str | None) -> str | None:
    """The model to open for `--session`: the one the session names (an inverted photo's tuned weights, say),
    unless `-c` asks for another on purpose, which is said."""
    from .state import named_model

    named = named_model(session)
    if named is None:
        return checkpoint  # an old session that names no model: the one asked for, or the default
    if checkpoint or untrained:
        if checkpoint is None or Path(checkpoint).resolve() != Path(named).resolve():
            print(f"note: {session} was made with {named}; opening it on {checkpoint or untrained} as -c asks",
                  file=sys.stderr)
        return checkpoint
    if not Path(named).is_file():
        raise SpatialGANError(f"{session} was made with {named}, which is not there any more; give the model "
                              "with -c")
    return named


def main(argv: list[str] | None = None) -> int:
    args = parsed(lambda: parse_args(argv))
    if isinstance(args, int):
        return args

    def body() -> int:
        notice = ""
        # what is written at the end is checked at the start: a bad path must not cost a window and a model load
        if args.screenshot is not None:
            check_output(args.screenshot, (".png",), "--screenshot")
        if args.dump_dir is not None:
            check_output_folder(args.dump_dir, "--dump-dir")
        if args.session is not None:
            args.checkpoint = session_model(args.session, args.checkpoint, args.untrained)
        if not args.checkpoint and not args.untrained and default_checkpoint() is None:
            args.untrained = "64:sel_indoor"
            notice = "No trained model is bundled yet: editing an UNTRAINED 64 px rooms network."
        if not has_display():
            print("no display found (DISPLAY is unset): the editor needs a window. Run it on a desktop, or under "
                  "Xvfb: xvfb-run -s '-screen 0 1400x900x24' python run_gui.py --screenshot out.png")
            return 0
        try:
            import dearpygui.dearpygui as dpg
        except ImportError:
            print("Dear PyGui is not installed: run the editor with `bash tools/editor.sh`, which installs it")
            return 0
        # the model is opened after the cheap checks; only the worker thread runs it
        from spatialgan import pick_device
        from spatialgan.loading import open_model as load_model

        from .ui.view import ViewOptions

        device = pick_device(args.device)
        G, source = load_model(args.checkpoint or (None if args.untrained else default_checkpoint()),
                               args.untrained, device, report)

        def open_model(path: str, progress: Callable[[str], None]) -> tuple:
            """For the editor's "Open model": load (errors go to the status line) before the old one is dropped."""
            if not path:
                raise SpatialGANError("type a checkpoint path or pick a bundled model first")
            return load_model(path, None, device, progress)

        if notice:
            print(notice)
        dpg.create_context()
        dpg.configure_app(manual_callback_management=True)
        options = ViewOptions(args.refine_steps, args.dump_dir, open_model, args.invert_steps)
        view = build_editor(G, device, source, args.seed, args.psi, options, notice, args.session)
        try:
            if args.screenshot is not None and view.c.centres():
                # show what a selected centre looks like: its ring, sigma slider and remove/replace controls
                nearest = min(view.c.centres(), key=lambda c: (c[2] - 0.5) ** 2 + (c[3] - 0.5) ** 2)
                view.c.select(nearest[0], nearest[1])
            from .ui.geometry import fit_viewport

            with screen() as size:  # the probe's X connection lives until the window has its own
                width, height, x, y = fit_viewport(size)  # a small screen gets a smaller window
                dpg.create_viewport(title="SpatialGAN editor", width=width, height=height, x_pos=x, y_pos=y,
                                    min_width=640, min_height=480)
                dpg.setup_dearpygui()
                dpg.show_viewport()
            dpg.set_primary_window("main", True)
            while True:
                view.run(args.screenshot)
                if view.next_model is None:
                    break
                # Another model was opened: a new worker, controller and layout (panels depend on the model).
                (G, source), seed, session = view.next_model, view.c.state.edit.seed, view.pending_session
                view.destroy()
                view.p.worker.close()
                view = build_editor(G, device, source, seed, args.psi, options, f"opened {source}")
                if session is not None:  # a session saved with this model asked for it
                    try:
                        view.c.load_session(session)
                        view.p.status.say(f"opened {source} and loaded {session.name}")
                    except SpatialGANError as exc:
                        view.p.status.fail(str(exc))
                dpg.set_primary_window("main", True)
            dpg.destroy_context()
        finally:
            view.p.worker.close()
        if args.screenshot is not None:
            if not args.screenshot.is_file() or args.screenshot.stat().st_size == 0:
                raise SpatialGANError(f"the screenshot could not be written to {args.screenshot} (is the place "
                                      "writable?)")
            print(f"screenshot saved to {args.screenshot}")
        return 0

    return run_cli(body)


if __name__ == "__main__":
    raise SystemExit(main())
