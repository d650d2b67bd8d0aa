"""DragGAN's two pure operations on feature maps: motion supervision and point tracking.

Points are (x, y) pixel coordinates of the image (pixel centres at integers); feature maps are (1, C, H, W)
at image resolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sample_features(feat: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear features at (N, 2) pixel coordinates -> (N, C)."""
    _, _, h, w = feat.shape
    grid = torch.stack([(points[:, 0] + 0.5) / w * 2 - 1, (points[:, 1] + 0.5) / h * 2 - 1], -1)
    out = F.grid_sample(feat, grid[None, None], mode="bilinear", align_corners=False, padding_mode="border")
    return out[0, :, 0].t()


def disc_offsets(radius: int, device: torch.device | None = None) -> torch.Tensor:
    """Integer offsets (M, 2) inside a disc of `radius`."""
    r = torch.arange(-radius, radius + 1, device=device, dtype=torch.float32)
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    keep = xx.square() + yy.square() <= radius * radius
    return torch.stack([xx[keep], yy[keep]], -1)


def motion_loss(feat: torch.Tensor, handles: torch.Tensor, targets: torch.Tensor, r1: int,
                feat0: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                mask_weight: float = 20.0) -> torch.Tensor:
    """sum_i sum_{q in disc(p_i, r1)} |F(q).detach() - F(q + d_i)|_1, d_i = (t_i - p_i) / |t_i - p_i|: pulls
    the features one pixel along the drag direction. With a flexible-area `mask` (H, W, 1 = may change),
    adds lambda * |(F - F0) * (1 - M)|_1 to keep everything else fixed."""
    offsets = disc_offsets(r1, feat.device)
    loss = feat.new_zeros(())
    for p, t in zip(handles, targets):
        direction = t - p
        dist = direction.norm()
        if dist < 1e-6:
            continue
        q = p[None] + offsets
        loss = loss + (sample_features(feat, q).detach() - sample_features(feat, q + direction / dist)).abs().mean(1).sum()
    if mask is not None and feat0 is not None:
        keep = (1 - mask.to(feat.dtype))[None, None]
        loss = loss + mask_weight * ((feat - feat0) * keep).abs().mean()
    return loss


@torch.no_grad()
def track_points(feat: torch.Tensor, handle_features: torch.Tensor, points: torch.Tensor, r2: int) -> torch.Tensor:
    """p_i := argmin over q in the square of half-width r2 around p_i of |F(q) - f_i|_1 (nearest neighbour
    to each handle's initial feature f_i). Returns new integer-valued (N, 2) points inside the image."""
    _, c, h, w = feat.shape
    out = []
    for p, f in zip(points, handle_features):
        x0, y0 = int(round(p[0].item())), int(round(p[1].item()))
        xa, xb = max(x0 - r2, 0), min(x0 + r2 + 1, w)
        ya, yb = max(y0 - r2, 0), min(y0 + r2 + 1, h)
        window = feat[0, :, ya:yb, xa:xb]
        dist = (window - f[:, None, None]).abs().sum(0)
        k = int(dist.reshape(-1).argmin())
        out.append([xa + k % (xb - xa), ya + k // (xb - xa)])
    return torch.tensor(out, dtype=points.dtype, device=points.device)
