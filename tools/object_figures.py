"""The README's strip of the object tool, made with the editor's own code paths (Controller + Worker, as the window
uses them): the picture, the object selected by one click (outlined), moved by a drag, the move refined by DragGAN,
and the object removed.

    python tools/object_figures.py checkpoints/pets64-plain.safetensors        # -> assets/object-strip.png
    python tools/object_figures.py MODEL --seeds 0-15 --out /tmp/strip.png

The seed is picked, not faked: among `--seeds`, each picture's object is the selection of a click at the middle of
the picture's object clusters, moved a quarter of the image towards the middle; the seed shown is the one whose
move changed the picture most where the object was and where it went (the script prints that choice with the median
over all seeds).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

from app.controller import Controller  # noqa: E402
from app.messages import RenderResult  # noqa: E402
from app.model_jobs import Refine  # noqa: E402
from app.ui.geometry import outline_region  # noqa: E402
from app.worker import Worker  # noqa: E402
from draggan import DragConfig  # noqa: E402
from editor_figures import change, parse_seeds, tile  # noqa: E402
from spatialgan.errors import SpatialGANError  # noqa: E402
from spatialgan.loading import load  # noqa: E402
from spatialgan.objects import Selection  # noqa: E402
from spatialgan.device import pick_device  # noqa: E402

MOVE = 0.25


def render(worker: Worker, c: Controller, object_map: bool = False) -> RenderResult:
    from dataclasses import replace

    worker.submit(replace(c.render_request(), object_map=object_map))
    if not worker.wait_idle(300):
        raise SpatialGANError("the worker did not finish a render in 300 s")
    r = [r for r in worker.poll() if isinstance(r, RenderResult)][-1]
    if r.error or r.image is None:
        raise SpatialGANError(f"render failed: {r.error}")
    return r


def move(worker: Worker, seed: int) -> tuple[Controller, dict] | None:
    c = Controller.for_worker(worker, seed, 0.7)
    first = render(worker, c, object_map=True)
    assert first.object_map is not None, first.object_error
    at = Selection.empty(first.object_map.labels, first.object_map.background).middle_of_objects()
    if at is None:
        return None
    c.select_object(*at, first.object_map)
    selected = outline_region(first.image, c.state.selection)
    dx = MOVE if at[0] < 0.5 else -MOVE
    c.move_object(dx, 0.0, c.new_gesture())
    moved = render(worker, c).image
    return c, {"seed": seed, "at": at, "dx": dx, "before": first.image, "selected": selected, "moved": moved,
               "score": change(first.image, moved, [at, (at[0] + dx, at[1])])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--seeds", default="0-15")
    ap.add_argument("--steps", type=int, default=100, help="refine steps at most")
    ap.add_argument("--out", type=Path, default=REPO / "assets" / "object-strip.png")
    args = ap.parse_args()
    device = pick_device("cpu")
    worker = Worker(load(args.checkpoint, device), device, str(args.checkpoint))
    try:
        found = [m for m in (move(worker, s) for s in parse_seeds(args.seeds)) if m is not None]
        if not found:
            raise SpatialGANError("no picture had an object to select")
        c, best = max(found, key=lambda m: m[1]["score"])
        print(f"seed {best['seed']}: change {best['score']:.1f} (median over {len(found)} seeds "
              f"{statistics.median(m[1]['score'] for m in found):.1f})")
        t0 = time.perf_counter()
        generation, start = c.object_refine_input()
        worker.start(Refine(generation, start, DragConfig(mode="draggan", max_steps=args.steps)))
        if not worker.wait_idle(1200):
            raise SpatialGANError("the refine did not finish in 20 minutes")
        done = [r for r in worker.poll() if getattr(r, "done", False)][-1]
        if done.error:
            raise SpatialGANError(f"refine failed: {done.error}")
        refined, steps = done.image, done.step
        print(f"refine: {steps} steps, {time.perf_counter() - t0:.1f} s")
        c2 = Controller.for_worker(worker, best["seed"], 0.7)
        c2.state.selection = c.state.edit.objects[-1].mask
        c2.remove_object()
        removed = render(worker, c2).image
    finally:
        worker.close()
    res = best["before"].shape[0]
    scale = max(1, 192 // res)
    tiles = [tile(best["before"], scale, "picture", f"seed {best['seed']}"),
             tile(best["selected"], scale, "one click", "object found in G's features"),
             tile(best["moved"], scale, "dragged", f"{abs(best['dx']):.2f} of the image"),
             tile(refined, scale, "+ DragGAN refine", f"{steps} steps"),
             tile(removed, scale, "removed", "Del")]
    strip = Image.new("RGB", (sum(t.width for t in tiles) + 4 * (len(tiles) - 1), tiles[0].height), (24, 24, 24))
    x = 0
    for t in tiles:
        strip.paste(t, (x, 0))
        x += t.width + 4
    args.out.parent.mkdir(parents=True, exist_ok=True)
    strip.save(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
