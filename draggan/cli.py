"""spatialgan-edit: apply a scripted drag edit headless and write the result.

    spatialgan-edit --seed 3 --drag 20,30:36,30 --mode hybrid --out edits/seed3
writes before.png, after.png, spec.json (final heatmap), homes.json (where the objects' looks come from),
ws.safetensors (final w+) and summary.json. Continue from a saved edit with
--heatmap edits/seed3/spec.json --homes edits/seed3/homes.json --ws edits/seed3/ws.safetensors.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from spatialgan import HeatmapSpec, pick_device
from spatialgan.carry import check_homes
from spatialgan.cli.common import add_model_args, load_model, run_cli
from spatialgan.errors import SpatialGANError
from spatialgan.fused import fuse
from spatialgan.visual import to_uint8

from .config import MODES, DragConfig
from .session import DragSession


def parse_drag(text: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """'x0,y0:x1,y1' (pixels) -> handle, target."""
    try:
        a, b = text.split(":")
        hx, hy = (float(v) for v in a.split(","))
        tx, ty = (float(v) for v in b.split(","))
    except ValueError:
        raise SpatialGANError(f"--drag expects HX,HY:TX,TY in pixels, e.g. 20,30:36,30; got {text!r}") from None
    return (hx, hy), (tx, ty)


def read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise SpatialGANError(f"cannot read {path}: {exc.strerror or exc}") from None


def load_homes(path: Path, spec: HeatmapSpec) -> list[tuple[float, float]]:
    """Homes written by an earlier edit: a JSON list of one [x, y] per object of `spec`."""
    try:
        homes = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise SpatialGANError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(homes, list) or not all(isinstance(h, list) for h in homes):
        raise SpatialGANError(f"{path}: homes must be a list of [x, y] pairs")
    check_homes(spec, homes)
    return [(float(h[0]), float(h[1])) for h in homes]


def load_ws(path: Path, shape: tuple[int, ...]) -> torch.Tensor:
    """The 'ws' tensor of a safetensors file written by an earlier edit, checked against the model's shape."""
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
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--psi", type=float, default=0.7)
    ap.add_argument("--heatmap", type=Path, help="heatmap spec JSON (default: sampled from the seed)")
    ap.add_argument("--homes", type=Path, help="objects' homes (homes.json of an earlier edit; default: where the "
                                                "objects are in the heatmap)")
    ap.add_argument("--ws", type=Path, help="w+ to start from (ws.safetensors of an earlier edit; default: from the seed)")
    ap.add_argument("--drag", action="append", default=[], metavar="HX,HY:TX,TY", help="handle and target (repeat)")
    ap.add_argument("--mode", choices=MODES, default="hybrid")
    ap.add_argument("--max-steps", type=int, default=200)
    ap.add_argument("--lr", type=float, default=2e-3, help="Adam step on w")
    ap.add_argument("--no-carry", action="store_true",
                    help="redraw moved objects instead of carrying the look they have where they start")
    ap.add_argument("--out", type=Path, default=Path("edit"), help="output folder (default ./edit)")
    args = ap.parse_args(argv)

    def body() -> int:
        pairs = [parse_drag(d) for d in args.drag]
        if not pairs:
            raise SpatialGANError("give at least one --drag HX,HY:TX,TY")
        cfg = DragConfig(mode=args.mode, max_steps=args.max_steps, lr=args.lr,
                         carry_resolution=None if args.no_carry else DragConfig.carry_resolution)
        device = pick_device(args.device)
        G, source = load_model(args, device)
        G = fuse(G)
        spec = None
        if G.capabilities.has_heatmaps:
            spec = HeatmapSpec.from_json(read_text(args.heatmap)) if args.heatmap else G.default_layout(args.seed)
        homes = load_homes(args.homes, spec) if spec is not None and args.homes else None
        ws = G.mapping(G.sample_z(1, seed=args.seed, device=device), psi=args.psi).detach()
        if args.ws:
            ws = load_ws(args.ws, tuple(ws.shape)).to(device)

        def progress(r) -> None:
            print(f"\rstep {r.step:4d}  distance {max(r.distances):6.2f} px", end="", flush=True)

        t0 = time.perf_counter()
        session = DragSession(G, ws, spec, [p for p, _ in pairs], [t for _, t in pairs], config=cfg, callback=progress,
                               homes=homes)
        result = session.run()
        seconds = time.perf_counter() - t0
        print()
        args.out.mkdir(parents=True, exist_ok=True)
        Image.fromarray(to_uint8(session.image0)).save(args.out / "before.png")
        Image.fromarray(to_uint8(session.render())).save(args.out / "after.png")
        if spec is not None:
            (args.out / "spec.json").write_text(session.spec().to_json())
            (args.out / "homes.json").write_text(json.dumps(homes or spec.object_places()) + "\n")
        save_file({"ws": session.ws().cpu().contiguous()}, str(args.out / "ws.safetensors"))
        summary = {"model": source, "seed": args.seed, "mode": args.mode, "steps": result.step,
                   "seconds": round(seconds, 3), "handles": [p for p, _ in pairs], "targets": [t for _, t in pairs],
                   "final_points": result.points, "final_distances_px": result.distances,
                   "final_distance_rel": [d / G.capabilities.resolution for d in result.distances],
                   "reached": all(d <= session.stop for d in result.distances), "error": result.error}
        (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        print(f"{result.step} steps, {seconds:.2f} s, final distance {max(result.distances):.2f} px -> {args.out}")
        return 0

    return run_cli(body)


if __name__ == "__main__":
    raise SystemExit(main())
