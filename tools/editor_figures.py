"""The README's before/after strip of editor actions, made with the editor's own code paths (Controller +
Worker, as the window uses them): a heatmap-centre move, an object removal and a hybrid DragGAN drag.

    python tools/editor_figures.py                       # rooms64 -> assets/edit-strip.png
    python tools/editor_figures.py --seeds 0-31 --out /tmp/strip.png

Seeds and objects are picked, not faked: among `--seeds` x objects (centres off the border), the move and the removal shown are the ones
that change the picture most (mean absolute pixel change within 0.15 of the centre's old and new
place); the script prints that choice with the median over
all candidates, so the strip can be read against what a typical edit does. The drag is tried on the objects
of the best few moves (handle: the object's centre, target: a fifth of the image towards the middle), and the
one whose picture changed most around handle and target is shown, since the tracked distance says where the
handle's feature went, not how much of the picture moved with it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.controller import Controller  # noqa: E402
from app.jobs import JobProgress  # noqa: E402
from app.messages import RenderResult  # noqa: E402
from app.model_jobs import Refine  # noqa: E402
from draggan import DragConfig  # noqa: E402
from app.worker import Worker  # noqa: E402
from spatialgan import load_generator  # noqa: E402
from spatialgan.errors import SpatialGANError  # noqa: E402
from spatialgan.progress import Status  # noqa: E402
from spatialgan.visual import MARKER_COLOURS, upscale  # noqa: E402

MOVE = 0.25  # image units a centre is moved (towards the middle)
DRAG = 0.2  # image units between the drag's handle and target
HEADER = 40  # pixels of label text above each tile
NEAR = 0.15  # image units: the area around a moved centre's old and new place that the move should change
INSIDE = 0.15  # candidate objects have their centre at least this far from the border


def parse_seeds(text: str) -> list[int]:
    try:
        if "-" in text:
            lo, hi = (int(v) for v in text.split("-"))
            return list(range(lo, hi + 1))
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise SpatialGANError(f"--seeds takes A-B or a comma list of integers, got {text!r}") from None


class Editor:
    """The editor without a window: one Controller per picture, renders through the Worker thread."""

    def __init__(self, worker: Worker, psi: float) -> None:
        self.worker, self.psi = worker, psi

    def open(self, seed: int) -> Controller:
        # (autosave is the window's job: nothing here writes to the user's cache)
        return Controller.for_worker(self.worker, seed, self.psi)

    def render(self, c: Controller) -> np.ndarray:
        self.worker.submit(c.render_request())
        if not self.worker.wait_idle(120):
            raise SpatialGANError("the worker did not finish a render in 120 s")
        r = [r for r in self.worker.poll() if isinstance(r, RenderResult)][-1]
        if r.error or r.image is None:
            raise SpatialGANError(f"render failed: {r.error}")
        return r.image

    def refine(self, c: Controller, mode: str, steps: int) -> JobProgress:
        self.worker.start(Refine(*c.refine_input(), DragConfig(mode=mode, lr=2e-3, max_steps=steps)))  # type: ignore[arg-type]
        if not self.worker.wait_idle(1200):
            raise SpatialGANError("the refine did not finish in 20 minutes")
        done = [r for r in self.worker.poll() if isinstance(r, JobProgress) and r.done][-1]
        if done.error or "ws" not in done.result:
            raise SpatialGANError(f"refine failed: {done.error}")
        c.apply_refine(done.result["ws"], done.result["spec"], done.points)
        return done


def _towards_middle(v: float, d: float) -> float:
    return v + d if v < 0.5 else v - d


def change(a: np.ndarray, b: np.ndarray, near: list[tuple[float, float]] | None = None) -> float:
    """Mean absolute pixel change, over the whole image or within NEAR of the given points (image units):
    a move should change the picture where the object was and where it went."""
    d = np.abs(a.astype(np.float32) - b).mean(-1)
    if near is None:
        return float(d.mean())
    r = d.shape[0]
    yy, xx = (np.mgrid[0:r, 0:r] + 0.5) / r
    m = np.zeros_like(d, bool)
    for px, py in near:
        m |= np.hypot(xx - px, yy - py) < NEAR
    return float(d[m].mean())


def search(ed: Editor, seeds: list[int]) -> dict:
    """Render every candidate move and removal; return the largest of each and the medians."""
    moves, removals = [], []
    status = Status()
    for n, seed in enumerate(seeds):
        c = ed.open(seed)
        base = ed.render(c)
        for li, ci, x, y, _sigma, enabled in c.centres():
            if not enabled or not (INSIDE <= x <= 1 - INSIDE and INSIDE <= y <= 1 - INSIDE):
                continue  # an object at the border moves mostly out of view: not a readable example
            nx = _towards_middle(x, MOVE)
            c.move_centre(li, ci, nx, y, gesture=c.new_gesture())
            moves.append((change(base, ed.render(c), [(x, y), (nx, y)]), seed, li, ci))
            c.undo()
            c.set_enabled(li, ci, False)
            removals.append((change(base, ed.render(c), [(x, y)]), seed, li, ci))
            c.undo()
        status(f"searching seeds: {n + 1}/{len(seeds)}", final=n + 1 == len(seeds))
    if not moves:
        raise SpatialGANError(f"no object centre lies {INSIDE} or more inside the border for seeds {seeds}")
    return {"move": max(moves), "removal": max(removals), "move_top": sorted(moves, reverse=True),
            "move_median": statistics.median(m[0] for m in moves),
            "removal_median": statistics.median(r[0] for r in removals), "candidates": len(moves)}


# ---- drawing ------------------------------------------------------------------------------------------
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def tile(image: np.ndarray, scale: int, label: str, sub: str = "") -> Image.Image:
    im = Image.fromarray(upscale(image, scale))
    out = Image.new("RGB", (im.width, im.height + HEADER), (24, 24, 24))
    out.paste(im, (0, HEADER))
    d = ImageDraw.Draw(out)
    d.text((4, 3), label, fill=(235, 235, 235), font=_font(15))
    if sub:
        d.text((4, 21), sub, fill=(160, 160, 160), font=_font(13))
    return out


def mark_centres(t: Image.Image, c: Controller, scale: int, res: int, ring: tuple[int, int] | None = None,
                 ghost: tuple[float, float] | None = None) -> None:
    """Centre markers as the editor draws them: filled dots, a cross for a removed object, a white ring around
    the edited one; `ghost`: where the edited centre was (an arrow from there)."""
    d = ImageDraw.Draw(t)
    k = scale * res

    def at(x: float, y: float) -> tuple[float, float]:
        return x * k, y * k + HEADER

    for li, ci, x, y, _s, enabled in c.centres():
        col = MARKER_COLOURS[ci % len(MARKER_COLOURS)]
        sx, sy = at(x, y)
        if ring == (li, ci) and ghost is not None:
            gx, gy = at(*ghost)
            d.ellipse((gx - 5, gy - 5, gx + 5, gy + 5), outline=col, width=2)
            _arrow(d, (gx, gy), (sx, sy), (255, 255, 255))
        if enabled:
            d.ellipse((sx - 6, sy - 6, sx + 6, sy + 6), fill=col, outline=(0, 0, 0), width=2)
        else:
            d.line((sx - 6, sy - 6, sx + 6, sy + 6), fill=col, width=3)
            d.line((sx - 6, sy + 6, sx + 6, sy - 6), fill=col, width=3)
        if ring == (li, ci):
            d.ellipse((sx - 10, sy - 10, sx + 10, sy + 10), outline=(255, 255, 255), width=2)


def _arrow(d: ImageDraw.ImageDraw, a: tuple[float, float], b: tuple[float, float], col: tuple[int, int, int]) -> None:
    d.line((*a, *b), fill=col, width=2)
    v = np.subtract(b, a)
    n = float(np.hypot(*v))
    if n < 1:
        return
    u, p = v / n, np.array([-v[1], v[0]]) / n
    tip = np.array(b)
    d.polygon([tuple(tip), tuple(tip - 9 * u + 5 * p), tuple(tip - 9 * u - 5 * p)], fill=col)


def mark_points(t: Image.Image, handle: tuple[float, float], target: tuple[float, float], scale: int) -> None:
    """Handle (red) and target (blue) as the editor draws them, in model pixels."""
    d = ImageDraw.Draw(t)

    def at(p: tuple[float, float]) -> tuple[float, float]:
        return (p[0] + 0.5) * scale, (p[1] + 0.5) * scale + HEADER

    h, g = at(handle), at(target)
    _arrow(d, h, g, (255, 255, 255))
    for (x, y), col in ((h, (255, 40, 40)), (g, (40, 110, 255))):
        d.ellipse((x - 6, y - 6, x + 6, y + 6), fill=col, outline=(255, 255, 255), width=2)


def strip(tiles: list[Image.Image], pad: int = 4) -> Image.Image:
    w = sum(t.width for t in tiles) + pad * (len(tiles) + 1)
    h = max(t.height for t in tiles) + 2 * pad
    out = Image.new("RGB", (w, h), (24, 24, 24))
    x = pad
    for t in tiles:
        out.paste(t, (x, pad))
        x += t.width + pad
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", type=Path, default=REPO / "checkpoints" / "rooms64.safetensors")
    ap.add_argument("--seeds", default="0-31", help="candidate seeds, A-B or a comma list")
    ap.add_argument("--psi", type=float, default=0.7)
    ap.add_argument("--steps", type=int, default=60, help="max steps of the hybrid DragGAN refine")
    ap.add_argument("--drag-candidates", type=int, default=4, help="drags tried (the best local moves' objects)")
    ap.add_argument("--scale", type=int, default=None, help="nearest upscaling (default: to 256 px)")
    ap.add_argument("--out", type=Path, default=REPO / "assets" / "edit-strip.png")
    args = ap.parse_args(argv)
    try:
        for name in ("steps", "scale", "drag_candidates"):
            if getattr(args, name) is not None and getattr(args, name) < 1:
                raise SpatialGANError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
        seeds = parse_seeds(args.seeds)
        G, source = load_generator(str(args.checkpoint), None, torch.device("cpu"))
    except (SpatialGANError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not G.config.uses_heatmaps or G.config.heatmap.mode != "multi":
        print("error: the strip is made on a multi-object model (rooms64, rooms128)", file=sys.stderr)
        return 2
    torch.manual_seed(0)
    worker = Worker(G, torch.device("cpu"), source)
    try:
        ed, res = Editor(worker, args.psi), worker.info.resolution
        sc = args.scale or max(1, 256 // res)
        t0 = time.perf_counter()
        found = search(ed, seeds)
        dm, ms, ml, mi = found["move"]
        dr, rs, rl, ri = found["removal"]
        print(f"move: seed {ms} object {mi}, change {dm:.2f} (median over {found['candidates']} candidates "
              f"{found['move_median']:.2f}); removal: seed {rs} object {ri}, change {dr:.2f} "
              f"(median {found['removal_median']:.2f}); {time.perf_counter() - t0:.0f} s")
        tiles = []
        # 1-2: the move
        c = ed.open(ms)
        before = ed.render(c)
        _, _, x, y, *_ = next(v for v in c.centres() if v[:2] == (ml, mi))
        t = tile(before, sc, f"seed {ms}: before", "heatmap centres as dots")
        mark_centres(t, c, sc, res)
        tiles.append(t)
        c.move_centre(ml, mi, _towards_middle(x, MOVE), y, gesture=c.new_gesture())
        side = "right" if x < 0.5 else "left"
        t = tile(ed.render(c), sc, f"object {mi}: centre moved", f"{MOVE} of the width to the {side}")
        mark_centres(t, c, sc, res, ring=(ml, mi), ghost=(x, y))
        tiles.append(t)
        # 3-4: the removal
        c = ed.open(rs)
        before_r = ed.render(c)
        if rs != ms:
            t = tile(before_r, sc, f"seed {rs}: before")
            mark_centres(t, c, sc, res)
            tiles.append(t)
        c.set_enabled(rl, ri, False)
        t = tile(ed.render(c), sc, f"object {ri}: centre removed", "(switched off, restorable)")
        mark_centres(t, c, sc, res, ring=(rl, ri))
        tiles.append(t)
        # 5-6: the hybrid drag. Candidates: the objects of the best local moves; shown: the drag that changed
        # the picture most around its handle and target (the tracker's distance alone can be fooled).
        drags = []
        for _, seed, li, ci in found["move_top"][: args.drag_candidates]:
            c = ed.open(seed)
            base = ed.render(c)
            _, _, hx, hy, *_ = next(v for v in c.centres() if v[:2] == (li, ci))
            handle = (hx * res - 0.5, hy * res - 0.5)
            target = (_towards_middle(hx, DRAG) * res - 0.5, hy * res - 0.5)
            c.add_point(*handle)
            c.add_point(*target)
            t1 = time.perf_counter()
            done = ed.refine(c, "hybrid", args.steps)
            after = ed.render(c)
            moved = change(base, after, [((handle[0] + 0.5) / res, hy), ((target[0] + 0.5) / res, hy)])
            print(f"hybrid drag, seed {seed} object {ci}: {done.step} steps in {time.perf_counter() - t1:.0f} s, "
                  f"tracked handle-target distance {np.hypot(target[0] - handle[0], target[1] - handle[1]):.1f} "
                  f"-> {done.distances[0]:.1f} px, picture change near them {moved:.2f}"
                  f"{' (' + done.error + ')' if done.error else ''}")
            drags.append((moved, seed, base, after, handle, target, done))
        moved, seed, base, after, handle, target, done = max(drags, key=lambda d: d[0])
        t = tile(base, sc, f"seed {seed}: drag", "handle (red) -> target (blue)")
        mark_points(t, handle, target, sc)
        tiles.append(t)
        t = tile(after, sc, "after hybrid DragGAN", f"{done.step} steps; tracked: {done.distances[0]:.1f} px left")
        mark_points(t, done.points[0], target, sc)
        tiles.append(t)
    except SpatialGANError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        worker.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    strip(tiles).save(args.out)
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
