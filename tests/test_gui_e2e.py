"""End-to-end: the real editor (`python run_gui.py`) in a real X window under Xvfb, driven by xdotool.

The app's test hook (--dump-dir) writes the shown image and on-screen positions after every render. These
tests need Debian's xvfb and xdotool (plus Mesa GL: libgl1-mesa-dri libglx-mesa0); without them they FAIL,
naming the packages, because the editor would otherwise go untested.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import tiny_models
from spatialgan import save_checkpoint
from spatialgan.paths import default_checkpoint

REPO = Path(__file__).resolve().parents[1]
STEPS = 8  # refine steps: enough for the trained model's handle to move visibly, few enough to stay fast
PACKAGES = "xvfb xdotool libgl1-mesa-dri libglx-mesa0 (sudo apt-get install xvfb xdotool libgl1-mesa-dri libglx-mesa0)"


def _free_display() -> int:
    for n in range(91, 300):
        if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists():
            return n
    raise RuntimeError("no free X display number in :91..:299")


@pytest.fixture(scope="module")
def xserver():
    yield from _xvfb("1400x900")


def _xvfb(screen: str):
    missing = [t for t in ("Xvfb", "xdotool") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"the GUI end-to-end tests need {', '.join(missing)}: install the Debian packages {PACKAGES}")
    # a busy 2-core machine can take many seconds to bring Xvfb up, and another server may take the display
    # number between our check and its start: wait long, and try the next free number when Xvfb exits
    for _attempt in range(3):
        n = _free_display()
        proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", f"{screen}x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 60
        while not Path(f"/tmp/.X11-unix/X{n}").exists() and proc.poll() is None and time.monotonic() < end:
            time.sleep(0.05)
        if proc.poll() is None and Path(f"/tmp/.X11-unix/X{n}").exists():
            break
        proc.kill()
        proc.wait(timeout=10)
    else:
        pytest.fail(f"Xvfb did not start (last display :{n}, exit code {proc.poll()}); packages: {PACKAGES}")
    yield f":{n}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """The bundled model when there is one, else a tiny random multi-object network."""
    bundled = default_checkpoint()
    if bundled is not None:
        return bundled
    G, _ = tiny_models("sel_indoor", "multi", seed=0)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_checkpoint(path, G)
    return path


def _holds(held: str, text: str) -> bool:
    """A field holds what was typed into it: the text itself, or, in a path field whose Return already opened the
    model, the same path as the editor then shows it (relative to its working folder, the repository)."""
    if held == text:
        return True
    try:
        return bool(held) and (REPO / held).resolve() == Path(text).resolve()
    except OSError:
        return False


class App:
    def __init__(self, display: str, checkpoint: Path, tmp: Path, extra: tuple[str, ...] = (),
                 seed: tuple[str, ...] = ("--seed", "1")) -> None:
        self.dump = tmp / "dump"
        tmp.mkdir(parents=True, exist_ok=True)
        self.bundled = checkpoint == default_checkpoint()
        # the editor's remembered folder and autosave go under the test's folder, not the user's home
        self.env = dict(os.environ, DISPLAY=display, XDG_CACHE_HOME=str(tmp / "cache"),
                        XDG_CONFIG_HOME=str(tmp / "config"), HOME=str(tmp / "home"))
        self.log = open(tmp / "app.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "run_gui.py", "--checkpoint", str(checkpoint), *seed, "--dump-dir",
             str(self.dump), "--refine-steps", str(STEPS), *extra], cwd=REPO, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self.log_path = tmp / "app.log"
        out = self.xdotool("search", "--sync", "--name", "SpatialGAN editor", timeout=60)
        self.window = out.split()[0]

    def xdotool(self, *args: str, timeout: float = 10) -> str:
        if self.proc.poll() is not None:
            raise AssertionError(f"the editor exited ({self.proc.returncode}):\n{self.log_path.read_text()}")
        return subprocess.run(["xdotool", *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=True).stdout

    def state(self) -> dict:
        return json.loads((self.dump / "state.json").read_text())

    def _wait(self, ready, timeout: float, poll_s: float) -> dict | None:
        """The first state written for which `ready(state)` holds within `timeout` s, else None; fails at once
        when the editor exits."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                s = self.state()
                if ready(s):
                    return s
            except (FileNotFoundError, json.JSONDecodeError):
                pass
            if self.proc.poll() is not None:
                raise AssertionError(f"the editor exited:\n{self.log_path.read_text()}")
            time.sleep(poll_s)
        return None

    def idle_state(self, timeout: float = 30, since_frame: int = -1, check=lambda s: True) -> dict:
        """The state once the shown image matches the edit and no job runs (and `check` holds)."""
        s = self._wait(lambda s: not s["busy"] and s["frame"] > since_frame and check(s), timeout, 0.1)
        if s is None:
            raise AssertionError(f"the editor did not settle in {timeout} s; last state: "
                                 f"{(self.dump / 'state.json').read_text() if (self.dump / 'state.json').exists() else None}")
        return s

    def fresh_state(self, since_frame: int = -1, timeout: float = 30) -> dict:
        """The state written after frame `since_frame`, busy or not."""
        s = self._wait(lambda s: s["frame"] > since_frame, timeout, 0.05)
        if s is None:
            raise AssertionError(f"no new state after frame {since_frame} in {timeout} s")
        return s

    def image(self) -> np.ndarray:
        return np.asarray(Image.open(self.dump / "image.png").convert("RGB")).astype(np.float32)

    def move(self, x: float, y: float) -> None:
        self.xdotool("mousemove", "--window", self.window, str(int(round(x))), str(int(round(y))))

    def click(self, x: float, y: float) -> None:
        self.move(x, y)
        time.sleep(0.15)
        self.xdotool("mousedown", "1")
        time.sleep(0.15)
        self.xdotool("mouseup", "1")
        time.sleep(0.15)

    def reveal(self, name: str) -> list[float]:
        """Scroll the controls column (mouse wheel over it) until widget `name` is in view; its rect."""
        for _ in range(60):
            # two dumps in a row with the same rect: a dump written in the frame of a scroll shows the old layout
            first = self.fresh_state()
            s = self.fresh_state(first["frame"])
            rect, box = s["buttons"][name], s["controls_rect"]
            inside = box[0] <= rect[0] and rect[2] <= box[2]
            if rect == first["buttons"][name] and (rect[1] >= box[1] and rect[3] <= box[3] or not inside):
                return rect  # in view (or not in the column at all: the toolbar, the image's row)
            self.move((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
            self.xdotool("click", "5" if rect[3] > box[3] else "4")
            self.fresh_state(s["frame"])
        raise AssertionError(f"could not scroll {name} into view")

    def press(self, name: str) -> None:
        """Click the widget `name` (a button or a checkbox), scrolled into view first."""
        self.click(*_centre_of(self.reveal(name)))

    def type_into(self, name: str, text: str) -> None:
        """Replace a text field's content; retried, because a key press shorter than one frame can be missed
        when software GL draws few frames per second on a loaded machine."""
        for _ in range(4):
            self.click(*_centre_of(self.reveal(name)))
            self.xdotool("keydown", "ctrl")
            time.sleep(0.2)
            self.xdotool("key", "--delay", "200", "a")
            self.xdotool("keyup", "ctrl")
            self.xdotool("type", "--delay", "30", text)
            # Let the characters reach the field before Return commits it: Return in a path field also opens the
            # file, and one that came in the same frame as the last characters would open half a name. Two states
            # written after the typing are at least ten frames later, however slowly a loaded machine draws.
            time.sleep(0.5)
            self.fresh_state(self.fresh_state(self.state()["frame"])["frame"])
            self.xdotool("key", "--delay", "200", "Return")
            end = time.monotonic() + 10  # the state file is rewritten every 10 frames when nothing renders
            while time.monotonic() < end:
                if _holds(self.state()["inputs"][name], text):
                    return
                time.sleep(0.1)
        raise AssertionError(f"could not type {text!r} into {name}: it holds {self.state()['inputs'][name]!r}")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="module")
def app(xserver, checkpoint, tmp_path_factory):
    a = App(xserver, checkpoint, tmp_path_factory.mktemp("gui"))
    yield a
    a.close()


def test_drag_centre_changes_image_around_it(app: App) -> None:
    app.idle_state(60)
    time.sleep(2)  # the idle frame rate below is measured after start-up
    s0 = app.idle_state(10)
    before = app.image()
    res = s0["resolution"]
    x0, y0, x1, y1 = s0["image_rect"]
    size = x1 - x0
    # the enabled centre closest to the middle, moved a quarter of the image towards the middle
    c = min((c for c in s0["centres"] if c["enabled"]), key=lambda c: abs(c["x"] - 0.5) + abs(c["y"] - 0.5))
    old = np.array([c["x"], c["y"]])
    new = np.clip(old + np.where(old < 0.5, 0.25, -0.25), 0.1, 0.9)
    _drag(app, c["screen"], (x0 + new[0] * size, y0 + new[1] * size))
    s1 = app.idle_state(30, s0["frame"], lambda s: s["generation"] > s0["generation"])
    moved = next(m for m in s1["centres"] if (m["level"], m["index"]) == (c["level"], c["index"]))
    assert np.hypot(moved["x"] - new[0], moved["y"] - new[1]) < 0.02, (moved, new)
    assert s1["undo_depth"] == s0["undo_depth"] + 1  # the whole drag is one undo step
    assert s1["last_error"] == ""
    after = app.image()
    diff = np.abs(after - before).mean(-1)
    assert diff.mean() > 0.5, "moving a centre did not change the image"
    yy, xx = (np.mgrid[0:res, 0:res] + 0.5) / res
    near = (np.hypot(xx - old[0], yy - old[1]) < 0.3) | (np.hypot(xx - new[0], yy - new[1]) < 0.3)
    share = diff[near].sum() / diff.sum()
    print(f"change near the old/new centre: {share:.2f} of the total on {near.mean():.2f} of the area")
    assert share > near.mean() + 0.1 and share > 0.5
    # The GUI thread kept drawing while the worker rendered: frames per second over the busy time, against the
    # idle rate before the drag (under Xvfb the idle rate is set by Mesa's software GL and the machine's load).
    fps = (s1["busy_frames"] - s0["busy_frames"]) / max(1e-9, s1["busy_seconds"] - s0["busy_seconds"])
    print(f"window: {s0['fps']:.0f} fps idle, {fps:.0f} fps over {s1['busy_seconds'] - s0['busy_seconds']:.2f} s "
          f"while the worker rendered (longest frame {s1['busy_max_gap_ms']:.0f} ms)")
    # A GUI that waited for renders would drop to ~1000 / render-ms fps; 0.4 leaves room for a loaded CPU.
    assert fps >= 0.4 * s0["fps"], "the window slows down while the worker renders"


def test_export_history_gif(app: App, tmp_path) -> None:
    app.idle_state(30)
    out = tmp_path / "history.gif"
    app.type_into("history_path", str(out))
    app.press("export_history")
    s1 = app.idle_state(60, check=lambda s: "history (" in s["message"] or s["last_error"] != "")
    assert s1["last_error"] == "", s1["last_error"]
    with Image.open(out) as gif:
        assert gif.n_frames == s1["undo_depth"] + 1 >= 2  # one frame per history state, the current one last


def test_smooth_pixels_checkbox(app: App) -> None:
    """The checkbox switches the shown texture between crisp blocks and interpolated pixels, and back."""
    s0 = app.idle_state(30)
    res = s0["resolution"]
    assert s0["texture_row_levels"] <= res  # crisp: one value per image pixel along a row
    app.press("smooth_image")
    s1 = app.idle_state(10, s0["frame"], lambda s: s["texture_row_levels"] > res)
    assert s1["last_error"] == ""
    app.press("smooth_image")
    app.idle_state(10, s1["frame"], lambda s: s["texture_row_levels"] <= res)


def test_carry_checkbox_after_a_move(app: App) -> None:
    """After the drag above an object is away from home: unticking "moved objects keep their look" redraws it
    plainly (another picture), ticking it again brings the carried picture back, each one undo step."""
    s0 = app.idle_state(30)
    assert s0["carry"] is True, "carrying is the default"
    carried = app.image()
    app.press("carry")
    s1 = app.idle_state(30, s0["frame"], lambda s: s["generation"] > s0["generation"] and not s["busy"])
    assert s1["carry"] is False and s1["undo_depth"] == s0["undo_depth"] + 1 and s1["last_error"] == ""
    plain = app.image()
    assert np.abs(plain - carried).mean() > 0.5, "the plain render of a moved object is another picture"
    app.press("carry")
    s2 = app.idle_state(30, s1["frame"], lambda s: s["generation"] > s1["generation"] and not s["busy"])
    assert s2["carry"] is True
    assert np.array_equal(app.image(), carried)


def test_click_points_and_refine(app: App) -> None:
    s0 = app.idle_state(30)
    x0, y0, x1, y1 = s0["image_rect"]
    size, res = x1 - x0, s0["resolution"]
    app.press("clear_points")
    # a handle away from every centre marker (a click there would grab the centre), target 1/5 image right
    grid = [(x0 + size * gx / 10, y0 + size * gy / 10) for gx in range(2, 6) for gy in range(2, 9)]
    handle = max(grid, key=lambda p: min(np.hypot(p[0] - c["screen"][0], p[1] - c["screen"][1])
                                         for c in s0["centres"]))
    target = (handle[0] + size / 5, handle[1])
    app.click(*handle)
    app.click(*target)
    s1 = app.idle_state(20, check=lambda s: len(s["targets"]) == 1)
    (hx, hy), (tx, ty) = s1["handles"][0], s1["targets"][0]
    assert abs((hx + 0.5) / res * size + x0 - handle[0]) < size / res
    assert abs((tx + 0.5) / res * size + x0 - target[0]) < size / res
    start = float(np.hypot(tx - hx, ty - hy))
    app.press("refine_run")
    s2 = app.idle_state(60, s1["frame"], lambda s: s["refine"] is not None and s["refine"]["done"])
    r = s2["refine"]
    assert r["error"] == "" and s2["last_error"] == ""
    assert r["max_steps"] == STEPS and (r["step"] == STEPS or max(r["distances"]) <= 1.0), r
    assert r["progress_updates"] >= 1
    print(f"handle-target distance {start:.1f} px -> {r['distances'][0]:.1f} px after {r['step']} steps")
    if app.bundled:  # on a tiny random network, point tracking is not meaningful; on the trained one it is
        assert r["distances"][0] < start - 1.0, "the handle did not move towards the target"
    assert s2["handles"][0] == pytest.approx(r["points"][0])  # the handle follows the tracked point


def key(app: App, name: str) -> None:
    """Press and release a key once: shorter than the key repeat delay (0.275 s), which would press it again;
    Dear ImGui queues a press and release that fall in one frame over two frames, so none is lost."""
    app.xdotool("keydown", name)
    time.sleep(0.08)
    app.xdotool("keyup", name)
    time.sleep(0.2)


def test_refine_video_from_the_editor(app: App, tmp_path: Path) -> None:
    """The refine above as a video: one frame per step plus the start, decoded back."""
    from spatialgan.video import read_video

    s0 = app.idle_state(30)
    assert s0["refine_frames"] >= 2
    out = tmp_path / "refine.mp4"
    app.type_into("refine_video_path", str(out))
    app.press("export_refine")
    s1 = app.idle_state(60, check=lambda s: "refine video" in s["message"] and "saved" in s["message"]
                        or s["last_error"] != "")
    assert s1["last_error"] == "" and str(out) in s1["message"]
    assert len(read_video(out)) == s0["refine_frames"] == s0["refine"]["step"] + 1


def test_selected_centre_panel_after_a_seed_change(app: App) -> None:
    """Selecting a centre shows its controls; the next seed (key N) forgets it: a hint, no stale sigma."""
    s0 = app.idle_state(30)
    c = next(c for c in s0["centres"] if c["enabled"])
    app.click(*c["screen"])
    s1 = app.idle_state(20, check=lambda s: s["selected"] is not None)
    assert s1["sel_controls_shown"] and "at (" in s1["sel_label"]
    key(app, "n")
    s2 = app.idle_state(30, check=lambda s: s["seed"] == s0["seed"] + 1)
    assert s2["selected"] is None and not s2["sel_controls_shown"]
    assert "Nothing selected" in s2["sel_label"] and s2["last_error"] == ""
    key(app, "p")  # and back
    app.idle_state(30, check=lambda s: s["seed"] == s0["seed"])


def test_export_goes_to_the_chosen_folder(app: App, tmp_path: Path) -> None:
    """A name without a folder is written to the folder field's folder, the status shows the full path, and
    the folder is remembered for the next start."""
    s0 = app.idle_state(30)
    # the default (a folder in the home, tested in test_app_state) or the last one written to: never the repository
    assert not s0["folder"].startswith(str(REPO))
    chosen = tmp_path / "my exports"
    app.type_into("folder", str(chosen))
    app.idle_state(10, check=lambda s: s["folder"] == str(chosen))
    app.type_into("export_path", "picked.png")
    app.press("export_png")
    s1 = app.idle_state(20, check=lambda s: "image saved" in s["message"] or s["last_error"] != "")
    assert s1["last_error"] == "", s1["last_error"]
    assert (chosen / "picked.png").is_file() and str(chosen / "picked.png") in s1["message"]
    assert not (REPO / "picked.png").exists()
    remembered = json.loads((Path(app.env["XDG_CONFIG_HOME"]) / "spatialgan" / "editor.json").read_text())
    assert remembered["folder"] == str(chosen)


def test_zoom_pan_and_compare(app: App) -> None:
    """The wheel zooms at the mouse (the point under it stays put), 0 fits the image again; holding C shows
    the scene before all edits in place of the current picture."""
    s0 = app.idle_state(30)
    x0, y0, x1, y1 = s0["image_rect"]
    size = x1 - x0
    assert s0["zoom"]["zoom"] == 1.0
    mx, my = x0 + 0.3 * size, y0 + 0.4 * size
    app.move(mx, my)
    time.sleep(0.2)
    for _ in range(3):
        app.xdotool("click", "4")
        time.sleep(0.15)
    s1 = app.idle_state(10, check=lambda s: s["zoom"]["zoom"] > 1.5)
    zx0, zy0, w = s1["zoom"]["window"]
    assert w == pytest.approx(1 / s1["zoom"]["zoom"])
    # the image point that was under the mouse still is
    assert zx0 + (mx - x0) / size * w == pytest.approx(0.3, abs=0.01)
    assert zy0 + (my - y0) / size * w == pytest.approx(0.4, abs=0.01)
    for c0, c1 in zip(s0["centres"], s1["centres"]):  # markers are drawn where the zoomed image shows them
        assert c1["screen"][0] == pytest.approx(x0 + (c0["x"] - zx0) / w * size, abs=0.5)
    key(app, "Right")  # pan
    s2 = app.idle_state(10, check=lambda s: s["zoom"]["window"][0] > zx0)
    key(app, "0")
    app.idle_state(10, s2["frame"], lambda s: s["zoom"]["zoom"] == 1.0)
    # compare: after an edit (a centre moved), the original differs from the current picture
    s2 = app.idle_state(10)
    c = min((c for c in s2["centres"] if c["enabled"]), key=lambda c: abs(c["x"] - 0.5) + abs(c["y"] - 0.5))
    _drag(app, c["screen"], (c["screen"][0] + (0.2 if c["x"] < 0.5 else -0.2) * size, c["screen"][1]))
    s3 = app.idle_state(30, s2["frame"], lambda s: s["generation"] > s2["generation"])
    current = app.image()
    app.xdotool("keydown", "c")
    try:
        s4 = app.idle_state(30, s3["frame"], lambda s: s["showing_original"])
        original = np.asarray(Image.open(app.dump / "shown.png").convert("RGB")).astype(np.float32)
    finally:
        app.xdotool("keyup", "c")
    assert s4["last_error"] == ""
    assert np.abs(original - current).mean() > 0.5, "the compare key shows the picture before the edits"
    s5 = app.idle_state(10, s4["frame"], lambda s: not s["showing_original"])
    shown = np.asarray(Image.open(app.dump / "shown.png").convert("RGB")).astype(np.float32)
    assert np.array_equal(shown, current) and s5["generation"] == s3["generation"]


def test_keyboard_undo_redo_and_help(app: App) -> None:
    s0 = app.idle_state(30)
    assert s0["undo_depth"] >= 1
    app.xdotool("keydown", "ctrl")
    try:
        key(app, "z")
    finally:
        app.xdotool("keyup", "ctrl")
    s1 = app.idle_state(30, check=lambda s: s["undo_depth"] == s0["undo_depth"] - 1)
    app.xdotool("keydown", "ctrl")
    try:
        key(app, "y")
    finally:
        app.xdotool("keyup", "ctrl")
    app.idle_state(30, s1["frame"], lambda s: s["undo_depth"] == s0["undo_depth"])
    assert not s0["help_shown"]
    key(app, "F1")
    app.idle_state(10, check=lambda s: s["help_shown"])
    key(app, "F1")
    app.idle_state(10, check=lambda s: not s["help_shown"])


def test_the_window_fits_a_small_screen(tmp_path: Path) -> None:
    """On a 1024x600 screen the window, the image and the controls column all lie on the screen."""
    gen = _xvfb("1024x600")
    display = next(gen)
    a = App(display, default_checkpoint(), tmp_path)
    try:
        s = a.idle_state(60)
        w, h = s["viewport"]
        x, y = s["viewport_pos"]
        assert x >= 0 and y >= 0 and x + w <= 1024 and y + h <= 600, (s["viewport"], s["viewport_pos"])
        for name in ("image_rect", "controls_rect"):
            r = s[name]
            assert r[2] <= w and r[3] <= h, (name, r, s["viewport"])
        assert s["image_rect"][2] - s["image_rect"][0] >= 256
        # everything in the controls can still be reached (it scrolls)
        a.reveal("export_refine")
    finally:
        a.close()
        gen.close()


def test_a_model_opens_when_picked(xserver, tmp_path: Path) -> None:
    """Picking a bundled model in the list opens it; no "Open model" press needed."""
    from spatialgan.paths import list_checkpoints

    names = [p.name for p in list_checkpoints()]
    if "pets64.safetensors" not in names:
        pytest.skip("needs the bundled pets64 model")
    a = App(xserver, default_checkpoint(), tmp_path)
    try:
        s0 = a.idle_state(60)
        rect = s0["buttons"]["model_pick"]
        a.click(*_centre_of(rect))
        time.sleep(0.5)
        # the list opens under the field, one row (font 13 px + 4 px spacing) per model after 8 px of padding
        index = names.index("pets64.safetensors")
        a.click((rect[0] + rect[2]) / 2, rect[3] + 8 + 17 * index + 7)
        s1 = a.idle_state(60, check=lambda s: s["model"].endswith("pets64.safetensors") and s["shown"] >= 0)
        assert s1["last_error"] == "" and s1["heatmap_layout"] == "hierarchical"
    finally:
        a.close()


def _drag(app: App, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Press at `start`, move to `end` in ten steps, release: one gesture."""
    (sx, sy), (tx, ty) = start, end
    app.move(sx, sy)
    time.sleep(0.2)
    app.xdotool("mousedown", "1")
    time.sleep(0.2)
    for k in range(1, 11):
        app.move(sx + (tx - sx) * k / 10, sy + (ty - sy) * k / 10)
        time.sleep(0.05)
    time.sleep(0.2)
    app.xdotool("mouseup", "1")


def _centre_of(rect: list[float]) -> tuple[float, float]:
    return (rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2


def test_paint_mask_on_the_image(app: App) -> None:
    s0 = app.idle_state(30)
    x0, y0, x1, y1 = s0["image_rect"]
    size = x1 - x0
    app.press("paint_mask")
    app.move(x0 + 0.3 * size, y0 + 0.5 * size)
    time.sleep(0.2)
    app.xdotool("mousedown", "1")
    time.sleep(0.2)
    for k in range(1, 9):  # one stroke across the middle
        app.move(x0 + (0.3 + 0.05 * k) * size, y0 + 0.5 * size)
        time.sleep(0.05)
    time.sleep(0.2)
    app.xdotool("mouseup", "1")
    s1 = app.idle_state(30, s0["frame"], lambda s: s["mask_pixels"] > 0)
    assert s1["undo_depth"] == s0["undo_depth"] + 1 and s1["handles"] == s0["handles"]  # painting adds no points
    assert s1["mask_pixels"] > s1["resolution"] * 0.3  # a band at least 0.3 of the width long
    app.press("clear_mask")
    app.idle_state(30, check=lambda s: s["mask_pixels"] == 0)
    app.press("paint_mask")  # untick: clicks on the image add points again


def test_open_another_model(app: App, tmp_path) -> None:
    """A bad path is an error in the window; a good one rebuilds the editor around the new model. Return in the
    path field opens it, as the button does (`type_into` ends with Return)."""
    s0 = app.idle_state(30)
    G, _ = tiny_models("sel_norm", "hierarchical", seed=0)
    other = tmp_path / "hier.safetensors"
    save_checkpoint(other, G)
    app.type_into("model_path", str(tmp_path / "missing.safetensors"))
    s1 = app.idle_state(30, check=lambda s: "no checkpoint" in s["last_error"])
    assert s1["model"] == s0["model"]
    app.type_into("model_path", str(other))
    s2 = app.idle_state(60, check=lambda s: s["model"] == str(other) and s["shown"] >= 0)
    assert s2["heatmap_layout"] == "hierarchical" and s2["panels"] == len(G.heatmap_resolutions)
    assert s2["resolution"] == G.config.resolution and s2["last_error"] == ""
    # The bundled pets64 ignores its finest level (bench/results/comove_by_layer.md): its panel says so.
    pets = Path(__file__).resolve().parents[1] / "checkpoints" / "pets64.safetensors"
    app.type_into("model_path", str(pets))
    s3 = app.idle_state(60, check=lambda s: s["model"] == str(pets) and s["inert_levels"] != [])
    assert s3["inert_levels"] == [False, False, True], s3["inert_levels"]
    assert "little effect" in s3["panel_labels"][2] and "little effect" not in s3["panel_labels"][0]


def test_refine_on_an_imported_stylegan2_pickle(xserver, tmp_path: Path) -> None:
    """The real window on a StyleGAN2-ADA network pickle (small random weights, written by the importer tests'
    writer): no heatmap panels, a class picker, and a DragGAN refine from clicked points."""
    from test_import import _pickle

    a = App(xserver, _pickle(tmp_path, "cond64"), tmp_path)
    try:
        s0 = a.idle_state(90)
        assert s0["heatmap_layout"] is None and s0["panels"] == 0 and s0["resolution"] == 64
        assert s0["centres"] == [] and s0["last_error"] == ""
        x0, y0, x1, y1 = s0["image_rect"]
        size = x1 - x0
        a.click(x0 + size * 0.3, y0 + size * 0.5)
        a.click(x0 + size * 0.5, y0 + size * 0.5)
        s1 = a.idle_state(30, check=lambda s: len(s["targets"]) == 1)
        a.press("refine_run")
        s2 = a.idle_state(90, s1["frame"], lambda s: s["refine"] is not None and s["refine"]["done"])
        r = s2["refine"]
        assert r["error"] == "" and s2["last_error"] == "" and r["step"] >= 1, r
        assert r["progress_updates"] >= 1
    finally:
        a.close()


def test_drag_a_heatmap_centre_of_an_imported_eqgan_pickle(xserver, tmp_path: Path) -> None:
    """The real window on an EqGAN-SA training snapshot (small random weights, G and D, written by the importer
    tests' writer with upstream's structure): three heatmap panels; dragging the root centre on the image moves it
    there, is one undo step, and changes the picture most around where the centre was and went; "where D looks"
    tints the picture with the discriminator's GradCAM."""
    from test_import_discriminator import REF as D_REF, META as D_META
    from test_import_eqgan import REF, META

    from netpickle_writer import reference_network, write_network_pickle

    snapshot = write_network_pickle(tmp_path / "eq64.pkl", {"G_ema": reference_network(REF, META, "eq64", "G_ema"),
                                                            "D": reference_network(D_REF, D_META, "eq64", "D")})
    a = App(xserver, snapshot, tmp_path)
    try:
        s0 = a.idle_state(90)
        assert s0["heatmap_layout"] == "hierarchical" and s0["panels"] == 3 and s0["last_error"] == ""
        before = a.image()
        res = s0["resolution"]
        x0, y0, x1, y1 = s0["image_rect"]
        size = x1 - x0
        c = next(c for c in s0["centres"] if c["level"] == 0)
        old = np.array([c["x"], c["y"]])
        new = np.clip(old + np.where(old < 0.5, 0.25, -0.25), 0.1, 0.9)
        _drag(a, c["screen"], (x0 + new[0] * size, y0 + new[1] * size))
        s1 = a.idle_state(60, s0["frame"], lambda s: s["generation"] > s0["generation"])
        moved = next(m for m in s1["centres"] if (m["level"], m["index"]) == (0, 0))
        assert np.hypot(moved["x"] - new[0], moved["y"] - new[1]) < 0.02, (moved, new)
        assert s1["undo_depth"] == s0["undo_depth"] + 1 and s1["last_error"] == ""
        diff = np.abs(a.image() - before).mean(-1)
        assert diff.mean() > 0.5, "moving the centre did not change the image"
        yy, xx = (np.mgrid[0:res, 0:res] + 0.5) / res
        near = (np.hypot(xx - old[0], yy - old[1]) < 0.3) | (np.hypot(xx - new[0], yy - new[1]) < 0.3)
        share = diff[near].sum() / diff.sum()
        print(f"change near the old/new centre: {share:.2f} of the total on {near.mean():.2f} of the area")
        assert share > near.mean()
        plain = a.fresh_state(s1["frame"])["texture_mean_rgb"]
        a.press("show_attention")
        s2 = a.idle_state(60, s1["frame"], lambda s: s["attention_shown"])
        assert s2["last_error"] == "" and s2["generation"] == s1["generation"]
        tinted = a.fresh_state(s2["frame"])["texture_mean_rgb"]
        # the drawn picture is tinted warm (towards orange-red) where D looks: less blue than the picture itself
        assert plain[2] - tinted[2] > 0.02 and tinted[0] >= plain[0] - 1e-3, (plain, tinted)
    finally:
        a.close()


def test_open_a_photo_edit_it_and_reopen_the_session(xserver, tmp_path: Path) -> None:
    """The real window: type a photo's path, Open photo, wait for the inversion; move a centre; save the session;
    a new editor on the tuned weights it names opens the same edit."""
    from spatialgan.data.procedural import PetsDataset

    photo = tmp_path / "pet.png"
    pet = PetsDataset(64, seed=7919).sample(4)
    Image.fromarray(pet.image).save(photo)
    a = App(xserver, REPO / "checkpoints" / "pets64.safetensors", tmp_path / "one", ("--invert-steps", "8"))
    try:
        s0 = a.idle_state(90)
        a.type_into("photo_path", str(photo))  # Return in the field opens it, as the button does
        s1 = a.idle_state(120, s0["frame"], lambda s: "inverted" in s["message"])
        assert s1["last_error"] == "" and s1["undo_depth"] == s0["undo_depth"] + 1
        target = np.asarray(Image.open(photo).convert("RGB"), np.float32)
        assert np.abs(a.image() - target).mean() < np.abs(a.image() - target.mean()).mean(), "closer than grey"
        x0, y0, x1, y1 = s1["image_rect"]
        c = next(c for c in s1["centres"] if c["level"] == 0)
        assert np.hypot(c["x"] - pet.centres[0][0], c["y"] - pet.centres[0][1]) < 0.1, "the centre marks the pet"
        new = (min(0.85, c["x"] + 0.2), c["y"])
        _drag(a, c["screen"], (x0 + new[0] * (x1 - x0), y0 + new[1] * (y1 - y0)))
        s2 = a.idle_state(60, s1["frame"], lambda s: s["generation"] > s1["generation"])
        session = tmp_path / "photo-session.json"
        a.type_into("session_path", str(session))
        a.press("save_session")
        a.idle_state(30, check=lambda s: "saved" in s["message"])
        saved = json.loads(session.read_text())
        tuned = Path(saved["model_path"])
        assert tuned.exists() and tuned != REPO / "checkpoints" / "pets64.safetensors"
        moved = next(m for m in s2["centres"] if (m["level"], m["index"]) == (0, 0))
    finally:
        a.close()
    b = App(xserver, tuned, tmp_path / "two", ("--session", str(session)))
    try:
        s3 = b.idle_state(90)
        again = next(m for m in s3["centres"] if (m["level"], m["index"]) == (0, 0))
        assert np.hypot(again["x"] - moved["x"], again["y"] - moved["y"]) < 1e-6 and s3["last_error"] == ""
    finally:
        b.close()
    # Load session in an editor on the base model: it opens the tuned weights the session names, then the edit
    c = App(xserver, REPO / "checkpoints" / "pets64.safetensors", tmp_path / "three")
    try:
        c.idle_state(90)
        c.type_into("session_path", str(session))
        c.press("load_session")
        s5 = c.idle_state(90, -1, lambda s: "loaded" in s["message"] or s["last_error"] != "")
        assert s5["last_error"] == "" and Path(s5["model"]).resolve() == tuned.resolve(), s5["message"]
        again = next(m for m in s5["centres"] if (m["level"], m["index"]) == (0, 0))
        assert np.hypot(again["x"] - moved["x"], again["y"] - moved["y"]) < 1e-6
    finally:
        c.close()


def test_ten_screenshot_starts_on_a_fresh_server(tmp_path: Path) -> None:
    """On an X server with no other client, asking X for the screen size opened and closed the only connection,
    which resets the server; GLFW connecting meanwhile aborted the editor (2 of 5 starts). Ten in a row now."""
    gen = _xvfb("1280x800")
    display = next(gen)
    env = dict(os.environ, DISPLAY=display, XDG_CACHE_HOME=str(tmp_path / "cache"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), HOME=str(tmp_path / "home"))
    try:
        for i in range(10):
            shot = tmp_path / f"shot{i}.png"
            run = subprocess.run([sys.executable, "run_gui.py", "--screenshot", str(shot)], cwd=REPO, env=env,
                                 capture_output=True, text=True, timeout=180)
            assert run.returncode == 0 and shot.is_file(), f"start {i}: {run.returncode}\n{run.stdout}\n{run.stderr}"
            assert Image.open(shot).size[0] > 600
    finally:
        gen.close()


def test_a_session_opens_the_model_it_names(xserver, tmp_path: Path) -> None:
    """`spatialgan-gui --session S.json` with no -c, for a session spatialgan-invert wrote: the editor opens the
    tuned weights the session names and shows the inverted photo (it used to start on the default model and
    fail); with -c another model it says so and opens that one."""
    from spatialgan.cli.invert import main as invert_main
    from spatialgan.data.procedural import PetsDataset

    photo = tmp_path / "pet.png"
    Image.fromarray(PetsDataset(64, seed=7919).sample(2).image).save(photo)
    out = tmp_path / "inv"
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        assert invert_main([str(photo), "--model", str(REPO / "checkpoints" / "pets64.safetensors"), "--out", str(out),
                            "--steps", "6", "--device", "cpu"]) == 0
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    session = out / "session.json"
    tuned = json.loads(session.read_text())["model_path"]
    dump = tmp_path / "dump"
    proc = subprocess.Popen([sys.executable, "run_gui.py", "--session", str(session), "--dump-dir", str(dump)], cwd=REPO,
                            env=dict(os.environ, DISPLAY=xserver, XDG_CACHE_HOME=str(tmp_path / "c2"),
                                     XDG_CONFIG_HOME=str(tmp_path / "config"), HOME=str(tmp_path / "home")),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        end, state = time.monotonic() + 90, None
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise AssertionError(f"the editor exited: {proc.stdout.read() if proc.stdout else ''}")
            try:
                s = json.loads((dump / "state.json").read_text())
                if not s["busy"] and s["shown"] >= 0:
                    state = s
                    break
            except (FileNotFoundError, json.JSONDecodeError):
                pass
            time.sleep(0.2)
        assert state is not None, "no picture"
        assert Path(state["model"]).resolve() == Path(tuned).resolve() and state["last_error"] == ""
        target = np.asarray(Image.open(photo).convert("RGB"), np.float32)
        shown = np.asarray(Image.open(dump / "image.png").convert("RGB"), np.float32)
        assert np.abs(shown - target).mean() < np.abs(shown - target.mean()).mean(), "the inverted photo is shown"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _object_middle(checkpoint: Path, seed: int) -> tuple[float, float]:
    """Where a user would click the object of `seed`'s picture (psi 0.7, as the editor opens it): the pixel nearest
    the middle of the picture's object clusters, found with the same clustering the editor fits."""
    from draggan.objects import picture_selection
    from spatialgan import load_generator
    from spatialgan.objects import fit_clusters

    G, _ = load_generator(str(checkpoint), None, "cpu")
    with torch.inference_mode():
        sel = picture_selection(G, fit_clusters(G), G.seed_ws(seed, 0.7), None)
    middle = sel.middle_of_objects()
    assert middle is not None, "the model draws no object in this picture"
    return middle


def test_the_object_tool_outlines_a_pet_and_a_drag_moves_it(xserver, tmp_path: Path) -> None:
    """On the plain baseline (no heatmaps), a click with the object tool selects the pet under it (outlined in the
    picture), a drag from inside the selection moves it: one undo step, and the picture changes where the pet was
    and where it went."""
    pets = REPO / "checkpoints" / "pets64-plain.safetensors"
    px_, py_ = _object_middle(pets, 1)
    app = App(xserver, pets, tmp_path, seed=("--seed", "1"))
    try:
        s0 = app.idle_state(60)
        assert s0["centres"] == []  # a model without heatmaps: the object tool is the way to move the pet
        app.press("object_tool")
        s1 = app.idle_state(60, s0["frame"], lambda s: s["object_map_ready"])
        x0, y0, x1, y1 = s1["image_rect"]
        size = x1 - x0
        px, py = x0 + px_ * size, y0 + py_ * size
        app.click(px, py)
        s2 = app.idle_state(30, s1["frame"], lambda s: s["selection_cells"] > 0)
        assert s2["selection_cells"] < 0.6 * 32 * 32 and s2["objects_moved"] == 0  # of the 32 x 32 cluster map
        assert s2["texture_mean_rgb"] != s1["texture_mean_rgb"]  # the outline is drawn over the picture
        assert s2["message"].startswith("object selected"), s2["message"]
        before = app.image()
        dx = 0.25 * size if px_ < 0.5 else -0.25 * size
        _drag(app, (px, py), (px + dx, py))
        s3 = app.idle_state(30, s2["frame"], lambda s: s["objects_moved"] == 1 and s["object_map_ready"])
        assert s3["undo_depth"] == s2["undo_depth"] + 1 and s3["handles"] == []  # a move, not DragGAN points
        after = app.image()
        r = s3["resolution"]

        def change(x: float) -> float:  # mean change in a box around (x, the pet's y), image units
            cx, cy, h = int(x * r), int(py_ * r), r // 8
            return float(np.abs(after - before)[max(0, cy - h): cy + h, max(0, cx - h): cx + h].mean())

        assert change(px_) > 10 and change(px_ + dx / size) > 10, (change(px_), change(px_ + dx / size))
        key(app, "Delete")
        s4 = app.idle_state(30, s3["frame"], lambda s: s["objects_moved"] == 2 and s["object_map_ready"])
        assert s4["selection_cells"] == 0
        app.click(x0 + 0.02 * size, y0 + 0.02 * size)  # a corner, far from every object: the status says so
        s5 = app.idle_state(30, s4["frame"], lambda s: s["selection_cells"] > 0)
        assert s5["message"].startswith("no object near the click"), s5["message"]
    finally:
        app.close()
