"""Training losses: non-saturating GAN loss, R1, and the alignment losses L_align (Eq. 4) and
L_align_indoor (Eq. 5)."""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F

from .discriminator import Discriminator
from .gradcam import gradcam
from .heatmaps import combine

ALIGN_TAU = 0.25  # paper Sec. 3.3: errors below tau are not penalised
STAY_FREE = 1.5  # move_consistency: the zone around both places the stay term ignores, in object sigmas


def g_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake_logits).mean()


def d_logistic(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def r1_penalty(D: Discriminator, real: torch.Tensor) -> torch.Tensor:
    """Per-sample squared gradient norm of D's logits at real images, (B,). Scale by gamma / 2 (and the lazy
    interval) in the trainer."""
    real = real.detach().requires_grad_(True)
    logits = D(real).logits
    (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return grad.square().sum((1, 2, 3))


def truncated_l1(pred: torch.Tensor, target: torch.Tensor, tau: float = ALIGN_TAU) -> torch.Tensor:
    """Per-sample truncated L1, (B,): the mean of |pred - target| over pixels whose error exceeds tau, or the
    plain mean where no pixel does (so the loss never becomes 0 / 0)."""
    err = (pred - target).abs().flatten(1)
    mask = (err > tau).to(err.dtype)
    count = mask.sum(1)
    truncated = (err * mask).sum(1) / count.clamp_min(1.0)
    return torch.where(count > 0, truncated, err.mean(1))


def align_distance(cams: Mapping[int, torch.Tensor], heatmaps: Mapping[int, torch.Tensor], indoor: bool,
                   tau: float = ALIGN_TAU) -> torch.Tensor:
    """Sum over levels of the batch mean of the per-sample distance between GradCAM and heatmap.

    indoor=False: Eq. 4, target H = sum_i H_i. indoor=True: Eq. 5, the minimum over H_hat in
    {H_1, ..., H_n, H}, so D may attend to one dominant object rather than to all of them.
    """
    total = torch.zeros((), device=next(iter(cams.values())).device)
    for r, cam in cams.items():
        sub = heatmaps[r]
        target = combine(sub)
        if indoor:
            candidates = torch.cat([sub.clamp(0, 1), target], 1)  # (B, n + 1, r, r)
            dists = torch.stack([truncated_l1(cam[:, 0], candidates[:, k], tau)
                                 for k in range(candidates.shape[1])], 1)
            total = total + dists.min(1).values.mean()
        else:
            total = total + truncated_l1(cam, target, tau).mean()
    return total


def alignment_loss(D: Discriminator, images: torch.Tensor, heatmaps: Mapping[int, torch.Tensor],
                   levels: tuple[int, ...] | list[int], indoor: bool = False, tau: float = ALIGN_TAU) -> torch.Tensor:
    """L_align / L_align_indoor on generated images: GradCAM of frozen D at the encoded levels vs. the input
    heatmaps. The gradient flows to G only."""
    cams = gradcam(D, images, list(levels))
    return align_distance(cams, {r: heatmaps[r] for r in levels}, indoor, tau)


def move_consistency(moved: torch.Tensor, original: torch.Tensor, before: torch.Tensor, after: torch.Tensor,
                     sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Our extension, not in the paper: how far an image whose object heatmap moved from `before` to `after` is
    from the original with that object carried along and everything else left in place (the co-move ratio's
    ideal of 1, and move locality's of 0).

    Images (B, 3, R, R); centres (B, 2) and the object's sigma (B,) in image units. Returns the per-sample L1
    inside the object's Gaussian window at its new place (against the original shifted by after - before) and
    outside a STAY_FREE-sigma zone around both places (against the original), each (B,). Where the object was is left free: the model must
    paint something new there.
    """
    b, _, r, _ = original.shape
    u = (torch.arange(r, device=original.device, dtype=original.dtype) + 0.5) / r
    grid = torch.stack(torch.meshgrid(u, u, indexing="xy"), -1)  # (R, R, 2) pixel centres as (x, y)
    shift = (after - before).to(grid)[:, None, None]
    # Sample the original at x - shift: its content appears shifted by +shift (border pixels repeat at the edge).
    carried = F.grid_sample(original, (grid - shift) * 2 - 1, mode="bilinear", padding_mode="border",
                            align_corners=False)

    def window(centre: torch.Tensor, scale: float) -> torch.Tensor:
        d2 = (grid - centre.to(grid)[:, None, None]).square().sum(-1)
        return torch.exp(-d2 / (2 * (scale * sigma.to(grid)[:, None, None]) ** 2))  # (B, R, R)

    # The stay term frees a wider zone (1.5 sigma) than the carried term weighs, so an object's tails beyond one
    # sigma may go with it without being held in place.
    w_stay = 1 - torch.maximum(window(after, STAY_FREE), window(before, STAY_FREE))
    w_new = window(after, 1.0)

    def weighted_l1(a: torch.Tensor, c: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return ((a - c).abs().mean(1) * w).sum((1, 2)) / w.sum((1, 2)).clamp_min(1e-6)

    return weighted_l1(moved, carried, w_new), weighted_l1(moved, original, w_stay)
