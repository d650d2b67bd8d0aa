"""DragGAN's two pure operations on feature maps: motion supervision and point tracking.

Points are (x, y) pixel coordinates of the image (pixel centres at integers). Feature maps are (1, C, h, w) at
the feature tap's own resolution, which may be coarser than the image (`size`, its side in pixels): DragGAN
compares features upsampled to the image, and bilinear sampling of the coarse map at an image pixel gives exactly
the upsampled value there, and between pixels DragGAN's bilinear sampling of the upsampled map is rebuilt from its
four neighbours. So only the features at the points are ever interpolated, never the whole map: at 1024 px that
map would be 1024 x 1024 x C floats per step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _at_pixels(feat: torch.Tensor, pixels: torch.Tensor, size: int) -> torch.Tensor:
    """(C, ...) bilinear samples of `feat` at `pixels` (..., 2) of a `size` x `size` grid over the same picture. At
    integer pixels that is exactly the map upsampled (bilinear, pixel centres) to that grid."""
    grid = ((pixels + 0.5) / size * 2 - 1).reshape(1, 1, -1, 2)
    out = F.grid_sample(feat, grid, mode="bilinear", align_corners=False, padding_mode="border")
    return out[0, :, 0].reshape(feat.shape[1], *pixels.shape[:-1])


def sample_features(feat: torch.Tensor, points: torch.Tensor, size: int | None = None) -> torch.Tensor:
    """Bilinear features at (N, 2) pixel coordinates of a `size`-pixel image (default: the map's own width) ->
    (N, C): what DragGAN reads, the map upsampled to the image and sampled bilinearly between its pixels (clamped
    at the border)."""
    size = size or feat.shape[-1]
    if size == feat.shape[-1]:
        return _at_pixels(feat, points, size).t()
    p = points.clamp(0, size - 1)
    p0 = p.floor().clamp(max=size - 2) if size > 1 else p.floor()
    fx, fy = (p - p0).unbind(-1)
    corners = torch.stack([p0, p0 + p0.new_tensor([1.0, 0.0]), p0 + p0.new_tensor([0.0, 1.0]), p0 + 1])  # (4, N, 2)
    v = _at_pixels(feat, corners.clamp(max=size - 1), size)  # (C, 4, N)
    weights = torch.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy])  # (4, N)
    return (v * weights).sum(1).t()


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
        window = _at_pixels(feat, torch.stack([xx, yy], -1), size)  # (C, len(ys), len(xs))
        k = int((window - f[:, None, None]).abs().sum(0).reshape(-1).argmin())
        out.append([float(xs[k % len(xs)]), float(ys[k // len(xs)])])
    return torch.tensor(out, dtype=points.dtype, device=points.device)
