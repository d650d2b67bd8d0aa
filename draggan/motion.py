"""DragGAN's two pure operations on feature maps: motion supervision and point tracking.

Points are (x, y) pixel coordinates of the image (pixel centres at integers). Feature maps are (1, C, h, w) at
the feature tap's own resolution, which may be coarser than the image (`size`, its side in pixels): DragGAN
compares features upsampled to the image, and bilinear sampling of the coarse map at an image pixel gives exactly
the upsampled value there. So only the features at the points are ever interpolated, never the whole map: at
1024 px that map would be 1024 x 1024 x C floats per step, the most expensive thing in the step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _grid(points: torch.Tensor, size: int) -> torch.Tensor:
    """Image pixel coordinates (..., 2) as grid_sample's [-1, 1] coordinates (pixel centres, align_corners off)."""
    return (points + 0.5) / size * 2 - 1


def sample_features(feat: torch.Tensor, points: torch.Tensor, size: int | None = None) -> torch.Tensor:
    """Bilinear features at (N, 2) pixel coordinates of a `size`-pixel image (default: the map's own width) ->
    (N, C): the values of the map bilinearly upsampled to the image, at those points."""
    size = size or feat.shape[-1]
    out = F.grid_sample(feat, _grid(points, size)[None, None], mode="bilinear", align_corners=False,
                        padding_mode="border")
    return out[0, :, 0].t()


def disc_offsets(radius: int, device: torch.device | None = None) -> torch.Tensor:
    """Integer offsets (M, 2) inside a disc of `radius`."""
    r = torch.arange(-radius, radius + 1, device=device, dtype=torch.float32)
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    keep = xx.square() + yy.square() <= radius * radius
    return torch.stack([xx[keep], yy[keep]], -1)


def motion_loss(feat: torch.Tensor, handles: torch.Tensor, targets: torch.Tensor, r1: int,
                feat0: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                mask_weight: float = 20.0, size: int | None = None) -> torch.Tensor:
    """sum_i sum_{q in disc(p_i, r1)} |F(q).detach() - F(q + d_i)|_1, d_i = (t_i - p_i) / |t_i - p_i|: pulls
    the features one pixel along the drag direction. With a flexible-area `mask` (image size, 1 = may change),
    adds lambda * |(F - F0) * (1 - M)|_1 to keep everything else fixed; on a coarser map the mask is averaged
    down to it, so the term weighs each feature cell by the share of its pixels that must stay."""
    size = size or feat.shape[-1]
    offsets = disc_offsets(r1, feat.device)
    loss = feat.new_zeros(())
    for p, t in zip(handles, targets):
        direction = t - p
        dist = direction.norm()
        if dist < 1e-6:
            continue
        q = p[None] + offsets
        moved = sample_features(feat, q + direction / dist, size)
        loss = loss + (sample_features(feat, q, size).detach() - moved).abs().mean(1).sum()
    if mask is not None and feat0 is not None:
        keep = (1 - mask.to(feat.dtype))[None, None]
        if keep.shape[-2:] != feat.shape[-2:]:
            keep = F.adaptive_avg_pool2d(keep, feat.shape[-2:])
        loss = loss + mask_weight * ((feat - feat0) * keep).abs().mean()
    return loss


@torch.no_grad()
def track_points(feat: torch.Tensor, handle_features: torch.Tensor, points: torch.Tensor, r2: int,
                 size: int | None = None) -> torch.Tensor:
    """p_i := argmin over image pixels q in the square of half-width r2 around p_i of |F(q) - f_i|_1 (nearest
    neighbour to each handle's initial feature f_i), F upsampled to the `size`-pixel image at those pixels only.
    Returns new integer-valued (N, 2) points inside the image."""
    size = size or feat.shape[-1]
    out = []
    for p, f in zip(points, handle_features):
        x0, y0 = int(round(p[0].item())), int(round(p[1].item()))
        xs = torch.arange(max(x0 - r2, 0), min(x0 + r2 + 1, size), device=feat.device, dtype=torch.float32)
        ys = torch.arange(max(y0 - r2, 0), min(y0 + r2 + 1, size), device=feat.device, dtype=torch.float32)
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        window = F.grid_sample(feat, _grid(torch.stack([xx, yy], -1), size)[None], mode="bilinear",
                               align_corners=False, padding_mode="border")[0]  # (C, len(ys), len(xs))
        k = int((window - f[:, None, None].to(window.dtype)).abs().sum(0).reshape(-1).argmin())
        out.append([float(xs[k % len(xs)]), float(ys[k // len(xs)])])
    return torch.tensor(out, dtype=points.dtype, device=points.device)
