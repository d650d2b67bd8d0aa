"""spatialgan-dataset: export the procedural datasets (images, masks, annotations) or preview them as a grid."""

from __future__ import annotations

import argparse
import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from ..cli.common import SEED, number, parsed, run_cli
from ..errors import SpatialGANError
from .folder import MASK_DIR
from . import PROCEDURAL
from .procedural import ProceduralDataset
from ..progress import Status



class Writer:
    """Files into a folder, or into a .zip when the path ends with .zip."""

    def __init__(self, out: Path) -> None:
        self.zip: zipfile.ZipFile | None = None
        try:
            if out.suffix.lower() == ".zip":
                out.parent.mkdir(parents=True, exist_ok=True)
                self.zip = zipfile.ZipFile(out, "w", zipfile.ZIP_STORED)  # PNGs are compressed already
            else:
                out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpatialGANError(f"cannot write to {out}: {exc}") from None
        self.out = out

    def write(self, name: str, data: bytes) -> None:
        if self.zip is not None:
            self.zip.writestr(name, data)
        else:
            (self.out / name).parent.mkdir(parents=True, exist_ok=True)
            (self.out / name).write_bytes(data)

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def export(ds: ProceduralDataset, count: int, out: Path) -> None:
    writer = Writer(out)
    status = Status()
    lines = []
    try:
        for i in range(count):
            s = ds.sample(i)
            label = np.zeros(s.image.shape[:2], np.uint8)
            for k, m in enumerate(s.masks):  # masks are disjoint, so one label image holds them all
                label[m] = k + 1
            name, mask_name = f"img{i:08d}.png", f"{MASK_DIR}/mask{i:08d}.png"
            writer.write(name, png_bytes(s.image))
            writer.write(mask_name, png_bytes(label))
            lines.append(json.dumps({"file": name, "mask": mask_name, "classes": s.classes,
                                     "centres": np.round(s.centres.astype(float), 6).tolist(),
                                     "boxes": np.round(s.boxes.astype(float), 6).tolist()}))
            if (i + 1) % 100 == 0 or i + 1 == count:
                status(f"{i + 1}/{count} images", final=i + 1 == count)
        writer.write("annotations.jsonl", ("\n".join(lines) + "\n").encode())
    finally:
        writer.close()
    print(f"wrote {count} images, masks and annotations.jsonl to {out}", file=sys.stderr)


def preview(ds: ProceduralDataset, count: int, out: Path) -> None:
    cols = int(np.ceil(np.sqrt(count)))
    rows = -(-count // cols)
    r, pad = ds.resolution, 2
    grid = np.full((rows * (r + pad) + pad, cols * (r + pad) + pad, 3), 255, np.uint8)
    for i in range(count):
        y, x = pad + (i // cols) * (r + pad), pad + (i % cols) * (r + pad)
        grid[y:y + r, x:x + r] = ds.sample(i).image
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grid).save(out)
    except (OSError, ValueError) as exc:
        raise SpatialGANError(f"cannot write {out}: {exc}") from None
    print(f"wrote a grid of {count} {r} px images to {out}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="spatialgan-dataset", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="write N images with masks and annotations.jsonl to a folder or .zip")
    ex.add_argument("dataset", choices=list(PROCEDURAL))
    ex.add_argument("--count", type=number(1, 100_000_000, integer=True), required=True, help="number of images")
    ex.add_argument("--out", type=Path, required=True, help="a folder, or a path ending with .zip")
    pv = sub.add_parser("preview", help="write a grid of samples as one PNG")
    pv.add_argument("dataset", choices=list(PROCEDURAL))
    pv.add_argument("--out", type=Path, required=True, help="the PNG to write")
    pv.add_argument("--count", type=number(1, 1024, integer=True), default=16, help="number of samples (default 16)")
    for p in (ex, pv):
        p.add_argument("--resolution", type=number(16, 1024, integer=True), default=64,
                       help="image size in pixels (default 64)")
        p.add_argument("--seed", type=SEED, default=0, help="dataset seed (default 0)")
    args = parsed(lambda: ap.parse_args(argv))
    if isinstance(args, int):
        return args

    def body() -> int:
        ds = PROCEDURAL[args.dataset](resolution=args.resolution, length=args.count, seed=args.seed)
        (export if args.command == "export" else preview)(ds, args.count, args.out)
        return 0

    return run_cli(body)


if __name__ == "__main__":
    raise SystemExit(main())
