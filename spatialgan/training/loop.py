"""The training loop (paper Sec. 3.3 and 4.1).

Per step: a G step on the non-saturating loss plus L_align / L_align_indoor (every step, not lazily) and, when
its weight is set, our move-consistency loss (`move_loss`, not in the paper), a D step
on the logistic loss, lazy R1 every `r1_interval` steps, then the G EMA update. All randomness of step s comes
from generators seeded by (seed, s) over the global batch, and each process takes its slice, so a resumed run
or a run on more processes repeats the same computation.
"""

from __future__ import annotations

import copy
import statistics
import json
import math
import signal
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import DataLoader, Dataset

from ..checkpoint import save_checkpoint
from ..device import keep_freed_memory
from ..discriminator import Discriminator
from ..errors import SpatialGANError
from ..gradcam import cams_from_output, frozen
from ..heatmaps import HeatmapSpec
from ..heatmaps.moves import move_object, moved_level, random_moves
from ..losses import align_distance, d_logistic, g_nonsaturating, move_consistency, r1_penalty
from ..render import render
from ..research import build as build_generator
from ..visual import draw_centres, grid, to_uint8, upscale
from .config import TrainConfig
from .distributed import Dist, average_gradients, average_tensor, barrier, broadcast_module
from .sampler import StepSampler
from .snapshot import load_snapshot, save_snapshot
from ..progress import bar_options

SNAPSHOT = "snapshot.safetensors"
MODEL = "model.safetensors"
LOG = "log.jsonl"
CONFIG = "train_config.json"
SAMPLE_SEEDS = 8
AMP_DEVICES = ("cuda", "cpu")  # where --amp autocasts to bfloat16; elsewhere the run trains in float32
MOVE_SHIFT = (0.08, 0.2, 0.05)  # move lengths and margin (image units) of the move loss: the co-move measure's


class TrainingStopped(SpatialGANError):
    """Training cannot go on (a loss became NaN/inf); the last good snapshot is kept."""


@dataclass
class StepStats:
    step: int
    kimg: float
    loss_g: float
    loss_align: float
    loss_d: float
    r1: float
    # Untruncated mean |GradCAM - target| (tau = 0): a progress monitor only. The truncated loss averages just
    # the pixels still off by more than tau, so it can stay flat while fewer and fewer pixels are off.
    align_l1: float
    loss_move: float = 0.0  # the move-consistency loss, both terms (0 when its weight is 0)


def _seed(*parts: int) -> int:
    h = 0
    for p in parts:
        h = (h * 1_000_003 + int(p)) % (2**62)
    return h


class Trainer:
    def __init__(self, cfg: TrainConfig, run_dir: Path, dataset: Dataset | None = None,
                 device: torch.device | str = "cpu", dist: Dist = Dist(), progress: bool = True) -> None:
        self.cfg, self.run_dir, self.dist = cfg, Path(run_dir), dist
        self.device = torch.device(device)
        self.progress = progress and dist.main
        if self.device.type == "cpu":
            keep_freed_memory()  # activations above 32 MB would otherwise be unmapped and refaulted every step
        gcfg, dcfg = cfg.model_configs()
        torch.manual_seed(cfg.seed)  # identical initial weights on every process (and broadcast below)
        self.G = build_generator(gcfg, cfg.variant()).to(self.device).train()
        self.D = Discriminator(dcfg).to(self.device).train()
        broadcast_module(self.G, dist)
        broadcast_module(self.D, dist)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        c = cfg.r1_interval / (cfg.r1_interval + 1)  # lazy regularisation: keep D's effective lr and momentum
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=cfg.g_lr, betas=cfg.betas)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=cfg.d_lr * c,
                                      betas=(cfg.betas[0] ** c, cfg.betas[1] ** c))
        self.step = 0
        self.elapsed = 0.0  # training seconds over all sessions of this run
        self.interrupted = False  # set by Ctrl-C: finish the step in flight, snapshot, stop
        if dataset is None:
            from ..data import make_dataset  # imported lazily: the data module pulls in PIL and sprites

            dataset = make_dataset(cfg.data, cfg.resolution, cfg.seed)
        self.dataset = dataset
        self.local_batch = cfg.batch // dist.world
        if cfg.batch % dist.world:
            raise SpatialGANError(f"batch {cfg.batch} must be divisible by the {dist.world} processes")
        self.levels = list(gcfg.heatmap.levels) if gcfg.uses_heatmaps else []
        self.indoor = cfg.align_indoor
        self.fixed_z = torch.randn(SAMPLE_SEEDS, gcfg.num_codes, gcfg.z_dim,
                                   generator=torch.Generator().manual_seed(_seed(cfg.seed, 777)))
        self.fixed_heatmaps = self.G.sample_layouts(SAMPLE_SEEDS, seed=_seed(cfg.seed, 778))

    # ---- state ----------------------------------------------------------------------------------------
    def _modules(self) -> dict:
        return {"G": self.G, "D": self.D, "G_ema": self.G_ema}

    def _optimizers(self) -> dict:
        return {"G": self.opt_G, "D": self.opt_D}

    def save(self) -> Path | None:
        """Snapshot (resumable state) and model (EMA generator) files; written by the main process only."""
        path = None
        if self.dist.main:
            info = {"step": self.step, "kimg": self.kimg, "elapsed_s": self.elapsed, "train_config": self.cfg.to_dict()}
            path = save_snapshot(self.run_dir / SNAPSHOT, self._modules(), self._optimizers(), info)
            save_checkpoint(self.run_dir / MODEL, self.G_ema, meta=self.model_meta())
        barrier(self.dist)
        return path

    def resume(self) -> bool:
        """Continue from the run's snapshot if there is one."""
        path = self.run_dir / SNAPSHOT
        if not path.exists():
            return False
        info = load_snapshot(path, self._modules(), self._optimizers(), self.device)
        self.step, self.elapsed = int(info["step"]), float(info.get("elapsed_s", 0.0))
        return True

    @property
    def kimg(self) -> float:
        return self.step * self.cfg.batch / 1000

    def model_meta(self) -> dict:
        return {"kimg": round(self.kimg, 3), "steps": self.step, "train_seconds": round(self.elapsed, 1),
                "data": self.cfg.data, "seed": self.cfg.seed, "align": self.cfg.align,
                "align_target": ("indoor" if self.indoor else "sum") if self.cfg.align else None,
                "batch": self.cfg.batch, "processes": self.dist.world, "device": self.device.type}

    # ---- one step -------------------------------------------------------------------------------------
    def _latents(self, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        cfg, gcfg = self.cfg, self.G.config
        sl = slice(self.dist.rank * self.local_batch, (self.dist.rank + 1) * self.local_batch)
        shape = (cfg.batch, gcfg.num_codes, gcfg.z_dim)
        z, z2 = torch.randn(shape, generator=gen)[sl], torch.randn(shape, generator=gen)[sl]
        mix = (torch.rand(cfg.batch, generator=gen) < cfg.style_mixing)[sl]
        cut = torch.randint(1, gcfg.num_ws, (cfg.batch,), generator=gen)[sl]
        hb = self.G.sample_layouts(cfg.batch, seed=gen).select(sl)
        return z.to(self.device), z2.to(self.device), mix.to(self.device), cut.to(self.device), hb.to(self.device)

    def _generate(self, latents: tuple, update_w_avg: bool) -> tuple[torch.Tensor, dict | None]:
        z, z2, mix, cut, hb = latents
        G = self.G
        ws = G.mapping(z, update_w_avg=update_w_avg)
        if self.cfg.style_mixing > 0:
            # Style mixing: layers from the cut-off on take a second latent (StyleGAN2's regulariser).
            layer = torch.arange(G.config.num_ws, device=self.device)
            take = (mix[:, None] & (layer[None] >= cut[:, None]))[:, None, :, None]
            ws = torch.where(take, G.mapping(z2), ws)
        with self._autocast():
            out = render(G, ws, hb if G.config.uses_heatmaps else None, noise_mode=self.cfg.noise_mode)  # type: ignore[arg-type]
        return out.image.float(), out.heatmaps

    def _autocast(self):
        if self.cfg.amp and self.device.type in AMP_DEVICES:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def g_losses(self, latents: tuple, update_w_avg: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """G's adversarial loss and L_align (Eq. 4/5) on one batch, sharing one pass through the frozen D, and
        the untruncated alignment monitor; L_align and the monitor are zero without alignment."""
        img, hm = self._generate(latents, update_w_avg=update_w_avg)
        with frozen(self.D):
            out = self.D(img, feature_resolutions=self.levels if self.cfg.align else ())
            loss_g = g_nonsaturating(out.logits)
            loss_align = align_l1 = torch.zeros((), device=self.device)
            if self.cfg.align:
                cams = cams_from_output(out, self.levels, self.cfg.cam_score)
                targets = {r: hm[r] for r in self.levels}
                loss_align = align_distance(cams, targets, self.indoor, self.cfg.align_tau)
                with torch.no_grad():
                    align_l1 = align_distance(cams, targets, self.indoor, tau=0.0) / len(self.levels)
        return loss_g, loss_align, align_l1

    def move_loss(self, latents: tuple, gen: torch.Generator) -> torch.Tensor:
        """Move consistency (`losses.move_consistency`, our extension): on the first `move_batch` images of the
        G step's draws, move one object's heatmap as the co-move measure does and ask the moved image to be the
        original with that object carried along. The original is a fixed target (no gradient): only the response
        to the move is trained. Both images use the constant noise the editor shows."""
        z, _, _, _, hb = latents
        k = min(self.cfg.move_batch, z.shape[0])
        hb = hb.select(slice(0, k))
        index, before, after = random_moves(hb, gen, *MOVE_SHIFT)  # drawn on the CPU, centres returned there
        index, before, after = index.to(self.device), before.to(self.device), after.to(self.device)
        moved = move_object(hb, index, after - before)
        sigma = moved_level(hb).sigmas[torch.arange(k, device=self.device), index]
        G = self.G
        ws = G.mapping(z[:k])
        with self._autocast():
            with torch.no_grad():
                original = render(G, ws, hb).image.float()
            image = render(G, ws, moved).image.float()
        carried, stayed = move_consistency(image, original, before, after, sigma)
        return (carried + stayed).mean()

    def train_step(self, real: torch.Tensor) -> StepStats:
        cfg, step = self.cfg, self.step
        gen = torch.Generator().manual_seed(_seed(cfg.seed, step))
        torch.manual_seed(_seed(cfg.seed, step, self.dist.rank, 1))  # per-pixel noise inside G
        real = real.to(self.device, non_blocking=True)

        latents = self._latents(gen)
        loss_g, loss_align, align_l1 = self.g_losses(latents, update_w_avg=True)
        total_g = loss_g + cfg.align_weight * loss_align
        loss_move = torch.zeros((), device=self.device)
        if cfg.move_weight > 0:
            loss_move = self.move_loss(latents, gen)
            total_g = total_g + cfg.move_weight * loss_move
        self.opt_G.zero_grad(set_to_none=True)
        total_g.backward()

        # D: logistic loss on fresh fakes and the real batch.
        with torch.no_grad():
            fake, _ = self._generate(self._latents(gen), update_w_avg=False)
        with self._autocast():
            loss_d = d_logistic(self.D(real).logits.float(), self.D(fake).logits.float())
        self.opt_D.zero_grad(set_to_none=True)
        loss_d.backward()

        stats = torch.stack([loss_g.detach(), loss_align.detach(), loss_d.detach(), align_l1, loss_move.detach()])
        average_tensor(stats, self.dist)
        if not torch.isfinite(stats).all():  # every process sees the same averaged values: all stop together
            names = list(dict.fromkeys(n for n, v in zip(("G adversarial", "alignment", "D", "alignment", "move"),
                                                          stats.tolist()) if not math.isfinite(v)))
            raise TrainingStopped(f"the {' and '.join(names)} loss became {stats.tolist()} at step {step} "
                                  f"({self.kimg:.1f} kimg); nothing of this step was applied")
        average_gradients(self.G, self.dist)
        self.opt_G.step()
        average_tensor(self.G.mapping_net.w_avg, self.dist)
        average_gradients(self.D, self.dist)
        self.opt_D.step()

        r1_value = float("nan")
        if step % cfg.r1_interval == 0:  # lazy R1, scaled by the interval (StyleGAN2)
            r1 = r1_penalty(self.D, real).mean()
            self.opt_D.zero_grad(set_to_none=True)
            (r1 * (cfg.gamma / 2) * cfg.r1_interval).backward()
            r1_value = float(average_tensor(r1.detach().clone(), self.dist))
            if not math.isfinite(r1_value):
                raise TrainingStopped(f"the R1 penalty became {r1_value} at step {step}; lower --r1-gamma or the "
                                      "learning rates")
            average_gradients(self.D, self.dist)
            self.opt_D.step()

        self.step += 1
        self._update_ema()
        loss_g_v, loss_align_v, loss_d_v, align_l1_v, loss_move_v = stats.tolist()
        return StepStats(self.step, self.kimg, loss_g_v, loss_align_v, loss_d_v, r1_value, align_l1_v, loss_move_v)

    @torch.no_grad()
    def _update_ema(self) -> None:
        ema_nimg = self.cfg.ema_images
        if self.cfg.ema_rampup:
            ema_nimg = min(ema_nimg, self.step * self.cfg.batch * self.cfg.ema_rampup)
        beta = 0.5 ** (self.cfg.batch / max(ema_nimg, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.copy_(p.detach().lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    # ---- outputs --------------------------------------------------------------------------------------
    @torch.no_grad()
    def write_samples(self) -> Path | None:
        """A grid of the EMA generator at fixed latents and heatmaps, centres marked, for watching progress."""
        if not self.dist.main:
            return None
        from PIL import Image

        G = self.G_ema
        out = render(G, G.mapping(self.fixed_z.to(self.device), psi=0.7),
                     self.fixed_heatmaps.to(self.device) if G.config.uses_heatmaps else None)
        imgs, hm = out.image, out.heatmaps
        scale = max(1, 128 // G.config.resolution)
        tiles = []
        for i in range(imgs.shape[0]):
            tile = upscale(to_uint8(imgs[i]), scale)
            if hm is not None:
                tile = draw_centres(tile, HeatmapSpec.from_batch(self.fixed_heatmaps, i), radius=scale)
            tiles.append(tile)
        path = self.run_dir / "samples" / f"kimg{self.kimg:09.3f}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grid(tiles, columns=4)).save(path)
        return path

    def _log(self, window: list[tuple[StepStats, float]]) -> None:
        """One JSONL row per interval: mean losses and speed over its steps, the latest lazy R1 value."""
        if not self.dist.main or not window:
            return
        last = window[-1][0]
        mean = lambda key: sum(getattr(st, key) for st, _ in window) / len(window)  # noqa: E731
        r1 = [st.r1 for st, _ in window if not math.isnan(st.r1)]
        sec = sum(dt for _, dt in window) / len(window)
        row = {"step": last.step, "kimg": round(last.kimg, 3), "loss_g": mean("loss_g"),
               "loss_align": mean("loss_align"), "align_l1": mean("align_l1"), "loss_d": mean("loss_d"), "r1": r1[-1] if r1 else None,
               **({"loss_move": mean("loss_move")} if self.cfg.move_weight > 0 else {}),
               "sec_per_step": round(sec, 4), "img_per_s": round(self.cfg.batch / max(sec, 1e-9), 2),
               "time": round(self.elapsed, 1)}
        with open(self.run_dir / LOG, "a") as f:
            f.write(json.dumps(row) + "\n")

    # ---- the loop -------------------------------------------------------------------------------------
    def estimate_step_seconds(self, steps: int = 2) -> float:
        """Seconds one training step takes here, measured on real steps whose effects are then undone (weights,
        optimiser moments, EMA, step count and random state restored), so a run is the same with or without
        asking. The first step warms up and is not counted."""
        from torch.utils.data import DataLoader

        real = next(iter(DataLoader(self.dataset, batch_size=self.local_batch, shuffle=False, num_workers=0,
                                    drop_last=True)))
        saved = ({k: copy.deepcopy(m.state_dict()) for k, m in self._modules().items()},
                 {k: copy.deepcopy(o.state_dict()) for k, o in self._optimizers().items()},
                 self.step, torch.get_rng_state())
        try:
            times = []
            for _ in range(max(2, steps)):
                t0 = time.perf_counter()
                self.train_step(real)
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                times.append(time.perf_counter() - t0)
        finally:
            modules, optimizers, self.step, rng = saved
            for k, m in self._modules().items():
                m.load_state_dict(modules[k])
            for k, o in self._optimizers().items():
                o.load_state_dict(optimizers[k])
            torch.set_rng_state(rng)
        return float(statistics.median(times[1:]))

    def run(self, on_step: Callable[[StepStats], None] | None = None) -> StepStats | None:
        """Train until total_kimg, snapshotting and sampling at their intervals. Ctrl-C finishes the step in
        flight, snapshots and returns with `interrupted` set; a NaN loss raises TrainingStopped and keeps the
        last snapshot, which never contains a half-applied step."""
        cfg = self.cfg
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.dist.main:
            cfg.save(self.run_dir / CONFIG)
        sampler = StepSampler(len(self.dataset), cfg.batch, cfg.seed, self.step, self.dist.rank, self.dist.world)
        loader = DataLoader(self.dataset, batch_size=self.local_batch, sampler=sampler, num_workers=cfg.workers,
                            pin_memory=self.device.type == "cuda", drop_last=True,
                            persistent_workers=cfg.workers > 0)
        snap_every, sample_every = cfg.steps_for(cfg.snapshot_kimg), cfg.steps_for(cfg.sample_kimg)
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=cfg.total_steps, initial=self.step, unit="step",
                       desc=f"{cfg.data} {cfg.resolution}px {cfg.encoding}", **{"dynamic_ncols": True, **bar_options()})
        if self.step == 0:
            self.write_samples()
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, lambda *_: setattr(self, "interrupted", True))
        stats = None
        window: list[tuple[StepStats, float]] = []
        batches = iter(loader)
        try:
            while self.step < cfg.total_steps and not self.interrupted:
                t0 = time.perf_counter()
                stats = self.train_step(next(batches))
                dt = time.perf_counter() - t0
                self.elapsed += dt
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix_str(f"{cfg.batch / dt:.1f} img/s  kimg {stats.kimg:.2f}  G {stats.loss_g:.3f}  "
                                        f"align {stats.loss_align:.3f}  D {stats.loss_d:.3f}")
                last = self.step == cfg.total_steps
                window.append((stats, dt))
                if self.step % cfg.log_steps == 0 or last:
                    self._log(window)
                    window = []
                if self.step % sample_every == 0 or last:
                    self.write_samples()
                if self.step % snap_every == 0 or last or self.interrupted:
                    self.save()
                if on_step is not None:
                    on_step(stats)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            if bar is not None:
                bar.close()
        return stats
