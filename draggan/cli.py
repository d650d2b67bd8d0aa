"""spatialgan-edit: apply a scripted drag edit headless and write the result.

    spatialgan-edit --seed 3 --drag 20,30:36,30 --mode hybrid --out edits/seed3
writes before.png, after.png, spec.json (final heatmap), homes.json (where the objects' looks come from),
ws.safetensors (final w+) and summary.json; with --video edit.mp4 (or .gif) also a video of the refine, one
frame per step (--video-points draws the handle and target points). Continue from a saved edit with
--heatmap edits/seed3/spec.json --homes edits/seed3/homes.json --ws edits/seed3/ws.safetensors.

    spatialgan-edit -c pets64-plain --seed 3 --move-object 30,34:44,34 --refine --out edits/pet3
selects the object under the first point (clusters of the model's own features, found once per model and cached)
and moves it by the drag, on models with or without heatmaps; writes before.png, after.png, mask.png (the selected
region), ws.safetensors and summary.json ("on_object": false where no object was near the point and the background
region under it was taken). --refine adds a DragGAN refine with handles spread over the object. The move is an edit
of the model's features, not of w+: ws.safetensors holds the refined w+ (with --refine), and the after picture is
that w+ drawn with the move.

    spatialgan-edit -c pets64-plain --seed 3 --remove-object 30,34 --out edits/pet3-gone
selects the object under the point the same way and removes it (its features refilled from around it, the editor's
Del); writes the same files.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load_file, save as save_tensors

from spatialgan import HeatmapSpec, files, pick_device
from spatialgan.carry import Homes, check_homes, homes_tensor
from spatialgan.cli.common import PSI, SEED, add_class_arg, add_model_args, load_model, number, parsed, run_cli, seed_ws
from spatialgan.errors import SpatialGANError, clean_text
from spatialgan.fused import fuse
from spatialgan.model import SteerableModel
from spatialgan.objects import ObjectClusters, ObjectEdit, cached_clusters, edit_block
from spatialgan.progress import Status
from spatialgan.render import render
from spatialgan.video import check_video_path, video_scale, write_video
from spatialgan.visual import draw_points, to_uint8, upscale

from .config import LATENTS, MODES, DragConfig
from .objects import object_edit, picture_selection, refine_session
from .session import DragSession, Point


def parse_drag(text: str, flag: str = "--drag") -> tuple[tuple[float, float], tuple[float, float]]:
    """'x0,y0:x1,y1' (pixels) -> handle, target."""
    try:
        a, b = text.split(":")
        hx, hy = (float(v) for v in a.split(","))
        tx, ty = (float(v) for v in b.split(","))
    except ValueError:
        raise SpatialGANError(f"{flag} expects HX,HY:TX,TY in pixels, e.g. 20,30:36,30; got {clean_text(text, 60)!r}") from None
    if not all(math.isfinite(v) for v in (hx, hy, tx, ty)):
        raise SpatialGANError(f"{flag} points must be finite numbers, got {clean_text(text, 60)!r}")
    return (hx, hy), (tx, ty)


def parse_point(text: str, flag: str) -> tuple[float, float]:
    """'x,y' (pixels) -> a point."""
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise SpatialGANError(f"{flag} expects X,Y in pixels, e.g. 30,34; got {clean_text(text, 60)!r}") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise SpatialGANError(f"{flag} must be finite numbers, got {clean_text(text, 60)!r}")
    return x, y


def load_homes(path: Path, spec: HeatmapSpec) -> list[tuple[float, float]]:
    """Homes written by an earlier edit: a JSON list of one [x, y] per object of `spec`."""
    homes = files.read_json(path, "homes file")
    if not isinstance(homes, list) or not all(isinstance(h, list) for h in homes):
        raise SpatialGANError(f"{path}: homes must be a list of [x, y] pairs")
    check_homes(spec, homes)
    return [(float(h[0]), float(h[1])) for h in homes]


def load_ws(path: Path, shape: tuple[int, ...]) -> torch.Tensor:
    """The 'ws' tensor of a safetensors file written by an earlier edit, checked against the model's shape."""
    files.check_regular_file(path, "w+ file")
    try:
        ws = load_file(str(path))["ws"].float()
    except (OSError, KeyError, SafetensorError) as exc:
        raise SpatialGANError(f"cannot read w+ from {path} (expected a 'ws' tensor in a .safetensors file): {exc}") from None
    if tuple(ws.shape) != shape:
        raise SpatialGANError(f"{path}: w+ has shape {tuple(ws.shape)}, this model needs {shape}")
    if not bool(torch.isfinite(ws).all()):
        raise SpatialGANError(f"{path}: w+ contains NaN or infinity")
    return ws


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="spatialgan-edit", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    add_model_args(ap)
    ap.add_argument("--seed", type=SEED, default=0)
    ap.add_argument("--psi", type=PSI, default=0.7, help="truncation (default 0.7)")
    add_class_arg(ap)
    ap.add_argument("--heatmap", type=Path, help="heatmap spec JSON (default: sampled from the seed)")
    ap.add_argument("--homes", type=Path, help="objects' homes (homes.json of an earlier edit; default: where the "
                                                "objects are in the heatmap)")
    ap.add_argument("--ws", type=Path, help="w+ to start from (ws.safetensors of an earlier edit; default: from the seed)")
    ap.add_argument("--drag", action="append", default=[], metavar="HX,HY:TX,TY", help="handle and target (repeat)")
    ap.add_argument("--move-object", metavar="X,Y:TX,TY",
                    help="select the object under X,Y and move it to TX,TY (pixels), instead of --drag")
    ap.add_argument("--remove-object", metavar="X,Y",
                    help="select the object under X,Y (pixels) and remove it, instead of --drag")
    ap.add_argument("--refine", action="store_true", help="with --move-object: refine the move with DragGAN")
    ap.add_argument("--mode", choices=MODES, default=None,
                    help="default: hybrid on a model with heatmap centres, draggan on one without")
    ap.add_argument("--latent", choices=LATENTS, default="w+",
                    help="optimise w+ (the first layers' codes, DragGAN's choice; default) or one w for all layers")
    ap.add_argument("--max-steps", type=number(1, 100000, integer=True), default=200)
    ap.add_argument("--lr", type=number(0, 1, lo_open=True), default=2e-3, help="Adam step on w")
    ap.add_argument("--no-carry", action="store_true",
                    help="redraw moved objects instead of carrying the look they have where they start")
    ap.add_argument("--out", type=Path, default=Path("edit"), help="output folder (default ./edit)")
    ap.add_argument("--video", type=Path, help="also write the refine as a video, one frame per step: .mp4 or .gif")
    ap.add_argument("--video-points", action="store_true", help="draw the handle and target points in the video")
    ap.add_argument("--video-fps", type=number(0.1, 120), default=10.0, help="frames per second (default 10)")
    args = parsed(lambda: ap.parse_args(argv))
    if isinstance(args, int):
        return args

    def body() -> int:
        pairs = [parse_drag(d) for d in args.drag]
        given = [flag for flag, v in (("--drag", pairs), ("--move-object", args.move_object),
                                      ("--remove-object", args.remove_object)) if v]
        if len(given) > 1:
            raise SpatialGANError(f"give only one of {', '.join(given)}: each is an edit of its own")
        # an object's move (start, target) or removal (start, None), or None for --drag
        drag = (parse_drag(args.move_object, "--move-object") if args.move_object is not None
                else (parse_point(args.remove_object, "--remove-object"), None) if args.remove_object is not None
                else None)
        if args.video is not None and drag is not None:
            flag = "--move-object" if drag[1] is not None else "--remove-object"
            raise SpatialGANError(f"--video records a --drag refine, step by step; {flag} writes pictures only")
        if args.refine and args.move_object is None:
            raise SpatialGANError("--refine refines an object move: give --move-object X,Y:TX,TY")
        if not pairs and drag is None:
            raise SpatialGANError("give at least one --drag HX,HY:TX,TY (or --move-object X,Y:TX,TY, or "
                                  "--remove-object X,Y)")
        if args.video is not None:
            check_video_path(args.video)  # before the refine, not after it
        if args.out.exists() and not args.out.is_dir():
            raise SpatialGANError(f"--out {args.out} is a file; give a folder")
        cfg = DragConfig(mode=args.mode or "hybrid", max_steps=args.max_steps, lr=args.lr, latent=args.latent,
                         carry_resolution=None if args.no_carry else DragConfig.carry_resolution)
        device = pick_device(args.device)
        G, source = load_model(args, device)
        clusters = None
        if drag is not None:
            edit_block(G)  # a model whose layers are not on the picture's grid says so before any work
            print("finding the model's objects in its features (once per model) ...", flush=True)
            clusters = cached_clusters(G)[0]  # keyed by the weights as loaded, before fusing
        G = fuse(G)
        if args.mode is None and not G.capabilities.moves_objects:
            cfg = dataclasses.replace(cfg, mode="draggan")  # nothing to move coarsely: DragGAN alone
        spec = None
        if G.capabilities.has_heatmaps:
            spec = HeatmapSpec.from_json(files.read_text(args.heatmap, "heatmap spec")) if args.heatmap else G.default_layout(args.seed)
        homes = load_homes(args.homes, spec) if spec is not None and args.homes else None
        ws = seed_ws(G, args.seed, args.psi, args.label, device).detach()
        if args.ws:
            ws = load_ws(args.ws, tuple(ws.shape)).to(device)

        if drag is not None:
            assert clusters is not None
            return move_object(G, clusters, ws, spec, homes, drag,
                               dataclasses.replace(cfg, mode="draggan" if cfg.mode == "hybrid" else cfg.mode),
                               args, source)
        status = Status(sys.stdout)
        # (image, tracked handles) for --video: the start, then the picture after each optimisation step
        frames: list[tuple[np.ndarray, list]] = []

        def progress(r) -> None:
            status(f"step {r.step:4d}  distance {max(r.distances):6.2f} px")
            if args.video is not None:
                frames.append((to_uint8(r.image), list(r.points)))

        t0 = time.perf_counter()
        session = DragSession(G, ws, spec, [p for p, _ in pairs], [t for _, t in pairs], config=cfg, callback=progress,
                               homes=homes)
        result = session.run()
        seconds = time.perf_counter() - t0
        status.close()
        after = to_uint8(session.render())
        out = args.out
        before = to_uint8(session.image0)
        files.write_atomic(out / "before.png", lambda t: Image.fromarray(before).save(t, format="PNG"))
        files.write_atomic(out / "after.png", lambda t: Image.fromarray(after).save(t, format="PNG"))
        if spec is not None:
            files.write_text_atomic(out / "spec.json", session.spec().to_json())
            files.write_text_atomic(out / "homes.json", json.dumps(homes or spec.object_places()) + "\n")
        ws_bytes = save_tensors({"ws": session.ws().cpu().contiguous()})
        files.write_atomic(out / "ws.safetensors", lambda t: t.write_bytes(ws_bytes))
        if args.video is not None:
            targets = [t for _, t in pairs]
            scale = video_scale(G.capabilities.resolution)
            video = write_video(args.video, [draw_points(upscale(im, scale), pts, targets, scale) if args.video_points
                                             else upscale(im, scale) for im, pts in frames], fps=args.video_fps)
            print(f"video ({len(frames)} frames) -> {video}")
        summary = {"model": source, "seed": args.seed, "mode": cfg.mode, "steps": result.step,
                   "seconds": round(seconds, 3), "handles": [p for p, _ in pairs], "targets": [t for _, t in pairs],
                   "final_points": result.points, "final_distances_px": result.distances,
                   "final_distance_rel": [d / G.capabilities.resolution for d in result.distances],
                   "reached": all(d <= session.stop for d in result.distances), "error": result.error}
        files.write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
        print(f"{result.step} steps, {seconds:.2f} s, final distance {max(result.distances):.2f} px -> {args.out}")
        return 0

    return run_cli(body)


def move_object(G: SteerableModel, clusters: ObjectClusters, ws: torch.Tensor, spec: HeatmapSpec | None,
                homes: Homes | None, drag: tuple[Point, Point | None], cfg: DragConfig, args: argparse.Namespace,
                source: str) -> int:
    """--move-object (a target) or --remove-object (none): select the object under the drag's start, move or remove
    it, optionally refine a move; write the files."""
    res = G.capabilities.resolution
    (hx, hy), target = drag
    flag = "--move-object" if target is not None else "--remove-object"
    for name, point in (("start", (hx, hy)), ("target", target)):
        if point is not None and not (0 <= point[0] <= res - 1 and 0 <= point[1] <= res - 1):
            raise SpatialGANError(f"{flag} {name} ({point[0]:g}, {point[1]:g}) is outside the {res}x{res} picture")
    device = ws.device
    layout = spec.to_batch(device) if spec is not None else None
    home = homes_tensor(spec, homes, device)
    t0 = time.perf_counter()
    selection = picture_selection(G, clusters, ws, layout, homes=home).object_at((hx + 0.5) / res, (hy + 0.5) / res)
    on_object = selection.on_object
    if not on_object:
        print(f"note: no object near ({hx:g}, {hy:g}); the background region under it is taken instead", flush=True)
    edit = (object_edit(selection, (hx, hy), target, res) if target is not None
            else ObjectEdit.from_selection(selection.mask, None))
    with torch.no_grad():
        before = to_uint8(render(G, ws, layout, homes=home).image)
        after_t = render(G, ws, layout, homes=home, edits=[edit]).image
    steps = 0
    if args.refine:
        status = Status(sys.stdout)
        session = refine_session(G, ws, spec, edit, cfg, homes=homes,
                                 callback=lambda r: status(f"step {r.step:4d}  distance {max(r.distances):6.2f} px"))
        steps = session.run().step
        status.close()
        after_t, ws = session.render(), session.ws()
    seconds = time.perf_counter() - t0
    out = args.out
    after = to_uint8(after_t)
    chosen = selection.at(res)
    region = (chosen * 255).astype(np.uint8)
    for name, picture in (("before.png", before), ("after.png", after), ("mask.png", region)):
        files.write_atomic(out / name, lambda t, p=picture: Image.fromarray(p).save(t, format="PNG"))
    ws_bytes = save_tensors({"ws": ws.cpu().contiguous()})
    files.write_atomic(out / "ws.safetensors", lambda t: t.write_bytes(ws_bytes))
    ys, xs = np.nonzero(chosen)
    summary = {"model": source, "seed": args.seed, "object_at": [hx, hy],
               "moved_to": list(target) if target is not None else None, "removed": target is None,
               "on_object": on_object, "region_px": int(len(xs)),
               "region_box": [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())],
               "refine": bool(args.refine), "refine_steps": steps, "seconds": round(seconds, 3)}
    files.write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    what = f"a {len(xs)} px {'object' if on_object else 'background region'}"
    done = f"moved {what} by ({target[0] - hx:g}, {target[1] - hy:g}) px" if target is not None else f"removed {what}"
    print(f"{done}{f', refined in {steps} steps' if args.refine else ''}, {seconds:.2f} s -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
