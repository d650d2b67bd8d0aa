"""Does bfloat16 autocast (--amp) change G's training signal? One batch through a run's snapshot, float32 against
bfloat16: the cosine similarity of G's gradients of the adversarial loss and of L_align, by parameter group.

    python bench/amp_gradients.py runs/table3_16/pets32_sel_norm [--batch 16] [--seed 5]

Prints a markdown table (bench/results/bf16_pets32/README.md quotes it). CPU only: autocast there is bfloat16.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from spatialgan.training import TrainConfig, Trainer
from spatialgan.training.loop import CONFIG, SNAPSHOT
from spatialgan.training.snapshot import load_snapshot


def group(name: str) -> str:
    if "sel" in name or "heat" in name:
        return "heatmap encoding and SEL"
    return "mapping" if name.startswith("mapping") else "rest of synthesis"


def gradients(trainer: Trainer, latents: tuple, amp: bool, loss_name: str) -> tuple[dict[str, torch.Tensor], float]:
    """G's gradient of one loss on one batch, flattened per parameter group, and the loss."""
    trainer.cfg = dataclasses.replace(trainer.cfg, amp=amp)
    torch.manual_seed(1)  # the same per-pixel noise for both precisions
    loss_g, loss_align, _ = trainer.g_losses(latents)
    loss = loss_g if loss_name == "adversarial" else loss_align
    named = list(trainer.G.named_parameters())
    grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
    flat: dict[str, list[torch.Tensor]] = {}
    for (name, p), g in zip(named, grads):
        flat.setdefault(group(name), []).append((torch.zeros_like(p) if g is None else g).flatten())
    return {k: torch.cat(v) for k, v in flat.items()}, float(loss.detach())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="a run folder with a snapshot")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    cfg = dataclasses.replace(TrainConfig.load(args.run / CONFIG), batch=args.batch)
    trainer = Trainer(cfg, Path(tempfile.mkdtemp()), progress=False)
    load_snapshot(args.run / SNAPSHOT, trainer._modules(), trainer._optimizers(), "cpu")
    latents = trainer._latents(torch.Generator().manual_seed(args.seed))
    print(f"{args.run}, batch {args.batch}, latent seed {args.seed}\n")
    print("| loss | value, float32 / bfloat16 | parameter group | gradient cosine | gradient norm, float32 / bfloat16 |")
    print("|---|---|---|---|---|")
    for loss_name in ("adversarial", "L_align"):
        a, la = gradients(trainer, latents, False, loss_name)
        b, lb = gradients(trainer, latents, True, loss_name)
        a["all"], b["all"] = torch.cat(list(a.values())), torch.cat(list(b.values()))
        for k in a:
            cos = float(F.cosine_similarity(a[k], b[k], dim=0))
            print(f"| {loss_name} | {la:.4f} / {lb:.4f} | {k} | {cos:.3f} | {a[k].norm():.4f} / {b[k].norm():.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
