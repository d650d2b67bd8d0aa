"""Tests for spatialgan.heatmaps: samplers (paper statistics), renderers and the editable HeatmapSpec."""

from __future__ import annotations

import json
import math

import pytest
import torch

from spatialgan.config import GeneratorConfig, HeatmapConfig, preset
from spatialgan.errors import HeatmapSpecError, SpatialGANError
from spatialgan.heatmaps import (Centre, HeatmapBatch, HeatmapLevel, HeatmapSpec, combine, render_heatmaps,
                                 render_level, sample_heatmaps, sample_hierarchical, sample_multi_object)
from spatialgan.heatmaps.sampling import truncated_normal_std

N = 20000  # large batch for the statistical checks


# ---------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------
def _uniform_sqrt_mean(a: float, b: float) -> float:
    """E[sqrt(s / 8)] for s ~ U(a, b)."""
    return (2.0 / 3.0) * (b**1.5 - a**1.5) / ((b - a) * math.sqrt(8.0))


# (lo, hi) of s per level, from the paper / EqGAN-SA
S_RANGES = {
    0: (0.5, 1.0),
    1: ((0.0 + 0.1) / 1.4, (1.0 + 0.1) / 1.4),
    2: ((0.0 + 0.1) / 2.0, (1.0 + 0.1) / 2.0),
}


@pytest.fixture(scope="module", autouse=True)
def _single_thread():
    """These tensors are tiny: one intra-op thread is fastest and avoids spin contention on busy CPUs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def hier_batch() -> HeatmapBatch:
    return sample_hierarchical(N, (1, 2, 4), seed=1234)


@pytest.fixture(scope="module")
def multi_batch() -> HeatmapBatch:
    return sample_multi_object(N, 3, seed=4321)


def _one_level(cx, cy, sigma, weight=1.0, dtype=torch.float32, requires_grad=False) -> HeatmapLevel:
    centres = torch.tensor([[[cx, cy]]], dtype=dtype, requires_grad=requires_grad)
    return HeatmapLevel(centres, torch.tensor([[sigma]], dtype=dtype), torch.tensor([[weight]], dtype=dtype))


def _hier_spec(seed: int = 3) -> HeatmapSpec:
    return HeatmapSpec.from_batch(sample_hierarchical(2, (1, 2, 4), seed=seed), index=1)


def _multi_spec(seed: int = 5, n: int = 3) -> HeatmapSpec:
    return HeatmapSpec.from_batch(sample_multi_object(2, n, seed=seed), index=0)


# ---------------------------------------------------------------------------------------------------------
# sampling: structure and determinism
# ---------------------------------------------------------------------------------------------------------
def test_hierarchical_structure(hier_batch):
    assert hier_batch.mode == "hierarchical"
    assert [lv.num_centres for lv in hier_batch.levels] == [1, 2, 4]
    assert all(lv.batch_size == N for lv in hier_batch.levels)
    # centre k of level l has parent k * n_{l-1} // n_l
    assert hier_batch.parents == [[None], [0, 0], [0, 0, 1, 1]]
    for lv in hier_batch.levels:
        assert lv.centres.shape[-1] == 2
        assert torch.all(lv.weights == 1.0)
        assert torch.isfinite(lv.centres).all() and torch.isfinite(lv.sigmas).all()


def test_multi_structure(multi_batch):
    assert multi_batch.mode == "multi"
    assert len(multi_batch.levels) == 1
    lv = multi_batch.levels[0]
    assert lv.centres.shape == (N, 3, 2) and lv.sigmas.shape == (N, 3) and lv.weights.shape == (N, 3)
    assert torch.all(lv.weights == 1.0)
    assert multi_batch.parents == [[None, None, None]]


@pytest.mark.parametrize("sampler", [lambda s: sample_hierarchical(64, (1, 2, 4), seed=s),
                                     lambda s: sample_multi_object(64, 3, seed=s)])
def test_same_seed_same_batch_different_seed_different(sampler):
    a, b, c = sampler(7), sampler(7), sampler(8)
    for la, lb, lc in zip(a.levels, b.levels, c.levels):
        assert torch.equal(la.centres, lb.centres)
        assert torch.equal(la.sigmas, lb.sigmas)
        assert torch.equal(la.weights, lb.weights)
        assert not torch.allclose(la.centres, lc.centres)
        assert not torch.allclose(la.sigmas, lc.sigmas)


def test_generator_seed_is_used():
    g1, g2 = torch.Generator().manual_seed(11), torch.Generator().manual_seed(11)
    a = sample_hierarchical(16, seed=g1)
    b = sample_hierarchical(16, seed=g2)
    assert torch.equal(a.levels[2].centres, b.levels[2].centres)
    # the generator advances: a second draw differs from the first
    c = sample_hierarchical(16, seed=g1)
    assert not torch.equal(a.levels[0].centres, c.levels[0].centres)


def test_sample_heatmaps_follows_config():
    h = sample_heatmaps(HeatmapConfig(mode="hierarchical", levels=(4, 8), centres_per_level=(1, 3)), 5, seed=0)
    assert h.mode == "hierarchical" and [lv.num_centres for lv in h.levels] == [1, 3]
    assert h.parents == [[None], [0, 0, 0]]
    m = sample_heatmaps(HeatmapConfig(mode="multi", num_objects=5), 5, seed=0)
    assert m.mode == "multi" and m.levels[0].centres.shape == (5, 5, 2)


# ---------------------------------------------------------------------------------------------------------
# sampling: statistics vs the paper
# ---------------------------------------------------------------------------------------------------------
def test_truncated_normal_std_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400000, generator=g, dtype=torch.float64) / 3
    x = x[x.abs() <= 0.375]
    assert truncated_normal_std(1 / 3, 0.375) == pytest.approx(float(x.std()), rel=0.01)
    # far-away truncation leaves the std unchanged, tight truncation -> uniform std w / sqrt(3)
    assert truncated_normal_std(0.1, 10.0) == pytest.approx(0.1, rel=1e-9)
    assert truncated_normal_std(100.0, 0.5) == pytest.approx(0.5 / math.sqrt(3), rel=1e-3)


def test_root_centre_statistics(hier_batch):
    c0 = hier_batch.levels[0].centres[:, 0]  # (N, 2)
    assert c0.min() >= 0.125 and c0.max() <= 0.875
    expected_std = truncated_normal_std(1 / 3, 0.375)
    for d in range(2):
        assert float(c0[:, d].mean()) == pytest.approx(0.5, abs=0.01)
        assert float(c0[:, d].std()) == pytest.approx(expected_std, rel=0.03)
    # the coordinates are drawn independently
    corr = torch.corrcoef(c0.T)[0, 1]
    assert abs(float(corr)) < 0.03


@pytest.mark.parametrize("level", [1, 2])
def test_child_offsets_statistics(hier_batch, level):
    off = hier_batch.levels[level].centres - hier_batch.levels[0].centres  # (N, n, 2) absolute offset from c0
    assert torch.isfinite(off).all()
    for d in range(2):
        assert float(off[..., d].mean()) == pytest.approx(0.0, abs=0.01)
        assert float(off[..., d].std()) == pytest.approx(1 / 6, rel=0.03)
    # children stay inside the clamp box
    cs = hier_batch.levels[level].centres
    assert cs.min() >= -0.45 and cs.max() <= 1.45
    # children of one image are drawn independently of each other (not all at the same offset)
    assert float((off[:, 0] - off[:, 1]).abs().mean()) > 0.1


@pytest.mark.parametrize("level", [0, 1, 2])
def test_sigma_statistics(hier_batch, level):
    sig = hier_batch.levels[level].sigmas
    lo, hi = S_RANGES[level]
    smin, smax = math.sqrt(lo / 8), math.sqrt(hi / 8)
    assert float(sig.min()) >= smin - 1e-6
    assert float(sig.max()) <= smax + 1e-6
    # the range is actually covered
    assert float(sig.min()) < smin + 0.01 * (smax - smin)
    assert float(sig.max()) > smax - 0.01 * (smax - smin)
    # s = 8 sigma^2 is uniform: mean (lo+hi)/2, std (hi-lo)/sqrt(12)
    s = 8 * sig.double() ** 2
    assert float(s.mean()) == pytest.approx((lo + hi) / 2, rel=0.01)
    assert float(s.std()) == pytest.approx((hi - lo) / math.sqrt(12), rel=0.03)
    assert float(sig.mean()) == pytest.approx(_uniform_sqrt_mean(lo, hi), rel=0.01)


def test_sigmas_narrow_with_level(hier_batch):
    means = [float(lv.sigmas.mean()) for lv in hier_batch.levels]
    assert means[0] > means[1] > means[2]


def test_multi_object_statistics(multi_batch):
    lv = multi_batch.levels[0]
    c = lv.centres
    assert c.min() >= 0.0 and c.max() <= 1.0
    expected_std = truncated_normal_std(0.5, 0.5)
    for d in range(2):
        assert float(c[..., d].mean()) == pytest.approx(0.5, abs=0.01)
        assert float(c[..., d].std()) == pytest.approx(expected_std, rel=0.03)
    sig = lv.sigmas
    assert float(sig.min()) >= 0.08 - 1e-6 and float(sig.max()) <= 0.2 + 1e-6
    assert float(sig.mean()) == pytest.approx(0.14, rel=0.01)
    assert float(sig.std()) == pytest.approx(0.12 / math.sqrt(12), rel=0.03)
    # objects are independent
    assert float((c[:, 0] - c[:, 1]).abs().mean()) > 0.1


# ---------------------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------------------
def test_render_level_shape(hier_batch):
    b = sample_hierarchical(3, (1, 2, 4), seed=0)
    for lv, r in zip(b.levels, (4, 8, 16)):
        out = render_level(lv, r)
        assert out.shape == (3, lv.num_centres, r, r)
        assert torch.isfinite(out).all() and out.min() >= 0


@pytest.mark.parametrize("cx,cy,res", [(0.3, 0.7, 16), (0.81, 0.12, 32), (0.5 + 1e-3, 0.5 + 1e-3, 4)])
def test_peak_at_pixel_containing_centre(cx, cy, res):
    out = render_level(_one_level(cx, cy, 0.05), res)[0, 0]
    row, col = divmod(int(out.argmax()), res)
    assert row == int(cy * res)  # y is the second-to-last axis
    assert col == int(cx * res)  # x is the last axis


def _centre_of_mass(m: torch.Tensor) -> tuple[float, float]:
    res = m.shape[-1]
    coords = (torch.arange(res, dtype=m.dtype) + 0.5) / res
    total = m.sum()
    return float((m.sum(-2) * coords).sum() / total), float((m.sum(-1) * coords).sum() / total)


def test_moving_centre_moves_map():
    res = 32
    base = render_level(_one_level(0.3, 0.4, 0.06), res)[0, 0]
    right = render_level(_one_level(0.6, 0.4, 0.06), res)[0, 0]
    down = render_level(_one_level(0.3, 0.7, 0.06), res)[0, 0]
    assert not torch.allclose(base, right) and not torch.allclose(base, down)
    rb, cb = divmod(int(base.argmax()), res)
    rr, cr = divmod(int(right.argmax()), res)
    rd, cd = divmod(int(down.argmax()), res)
    assert cr > cb and rr == rb  # moving x moves along the last axis only
    assert rd > rb and cd == cb  # moving y moves along the second-to-last axis only
    xb, yb = _centre_of_mass(base)
    xr, yr = _centre_of_mass(right)
    xd, yd = _centre_of_mass(down)
    assert xb == pytest.approx(0.3, abs=2e-3) and yb == pytest.approx(0.4, abs=2e-3)
    assert xr == pytest.approx(0.6, abs=2e-3) and yr == pytest.approx(0.4, abs=2e-3)
    assert xd == pytest.approx(0.3, abs=2e-3) and yd == pytest.approx(0.7, abs=2e-3)


def test_zero_weight_renders_zero():
    out = render_level(_one_level(0.5, 0.5, 0.1, weight=0.0), 16)
    assert torch.count_nonzero(out) == 0


def test_weight_scales_linearly():
    a = render_level(_one_level(0.4, 0.6, 0.1, weight=1.0), 8)
    b = render_level(_one_level(0.4, 0.6, 0.1, weight=0.25), 8)
    torch.testing.assert_close(b, 0.25 * a)


@pytest.mark.parametrize("res", [4, 16, 256])
@pytest.mark.parametrize("weight,sigma", [(1.0, 0.05), (0.7, 0.08)])
def test_area_mean_preserves_mass(res, weight, sigma):
    lv = _one_level(0.47, 0.52, sigma, weight=weight, dtype=torch.float64)
    total = float(render_level(lv, res).sum())
    assert total == pytest.approx(weight * 2 * math.pi * sigma**2 * res**2, rel=1e-6)


def test_pixel_value_is_area_mean_of_gaussian():
    """A 4x4 render equals a fine point-sampled render average-pooled to 4x4."""
    cx, cy, sigma, fine = 0.37, 0.61, 0.09, 1024
    coarse = render_level(_one_level(cx, cy, sigma, dtype=torch.float64), 4)[0, 0]
    t = (torch.arange(fine, dtype=torch.float64) + 0.5) / fine
    g = torch.exp(-((t[None, :] - cx) ** 2 + (t[:, None] - cy) ** 2) / (2 * sigma**2))
    pooled = torch.nn.functional.avg_pool2d(g[None, None], fine // 4)[0, 0]
    torch.testing.assert_close(coarse, pooled, rtol=1e-4, atol=1e-6)
    # and at a very fine resolution the value at the centre is ~1 (unit amplitude)
    fine_render = render_level(_one_level(0.5, 0.5, 0.1, dtype=torch.float64), 513)  # 0.5 = pixel 256's centre
    assert float(fine_render.max()) == pytest.approx(1.0, abs=1e-4)


def test_zero_sigma_is_finite():
    out = render_level(_one_level(0.5, 0.5, 0.0), 8)
    assert torch.isfinite(out).all()


def test_combine_sums_and_clips():
    centres = torch.tensor([[[0.5, 0.5], [0.5, 0.5], [0.1, 0.9]]])
    lv = HeatmapLevel(centres, torch.tensor([[0.2, 0.2, 0.05]]), torch.ones(1, 3))
    subs = render_level(lv, 16)
    h = combine(subs)
    assert h.shape == (1, 1, 16, 16)
    assert float(subs.sum(1).max()) > 1.5  # overlapping objects exceed 1 before clipping
    assert float(h.max()) == pytest.approx(1.0) and float(h.min()) >= 0.0
    # where nothing overlaps, combine is the plain sum
    s = subs.sum(1, keepdim=True)
    mask = s <= 1
    torch.testing.assert_close(h[mask], s[mask])
    # negative values (e.g. negative weights) are clipped to 0
    neg = combine(-subs)
    assert float(neg.max()) == 0.0 and float(neg.min()) == 0.0


def test_gradients_flow_to_centres():
    b = sample_hierarchical(2, (1, 2, 4), seed=9)
    centres = [lv.centres.clone().requires_grad_(True) for lv in b.levels]
    levels = [HeatmapLevel(c, lv.sigmas, lv.weights) for c, lv in zip(centres, b.levels)]
    maps = render_heatmaps(HeatmapBatch("hierarchical", levels, b.parents), (4, 8, 16))
    # an asymmetric target so the gradient cannot cancel
    loss = sum((m * torch.linspace(0, 1, m.shape[-1])).sum() + (m**2).sum() for m in maps.values())
    loss.backward()
    for c in centres:
        assert c.grad is not None
        assert torch.isfinite(c.grad).all()
        assert float(c.grad.abs().sum()) > 0
        assert (c.grad.abs().sum(-1) > 0).all()  # every centre gets gradient


def test_gradient_direction_x():
    """d(mass in the right half)/dx > 0: the gradient points the way the map moves."""
    lv = _one_level(0.4, 0.5, 0.1, dtype=torch.float64, requires_grad=True)
    m = render_level(lv, 16)[0, 0]
    m[:, 8:].sum().backward()
    g = lv.centres.grad[0, 0]
    assert float(g[0]) > 0
    assert abs(float(g[1])) < 1e-9  # y-shift does not change the right-half mass (symmetric about y=0.5)


def test_render_heatmaps_hierarchical():
    b = sample_hierarchical(2, (1, 2, 4), seed=2)
    maps = render_heatmaps(b, (4, 8, 16))
    assert set(maps) == {4, 8, 16}
    assert maps[4].shape == (2, 1, 4, 4)
    assert maps[8].shape == (2, 2, 8, 8)
    assert maps[16].shape == (2, 4, 16, 16)
    torch.testing.assert_close(maps[8], render_level(b.levels[1], 8))


def test_render_heatmaps_multi():
    b = sample_multi_object(2, 3, seed=2)
    maps = render_heatmaps(b, (4, 8, 16, 32))
    assert set(maps) == {4, 8, 16, 32}
    for r, m in maps.items():
        assert m.shape == (2, 3, r, r)
        torch.testing.assert_close(m, render_level(b.levels[0], r))
    # the same map at every resolution: mass / r^2 is resolution independent
    per_area = [maps[r].sum((-1, -2)) / r**2 for r in (4, 8, 16, 32)]
    for p in per_area[1:]:
        torch.testing.assert_close(p, per_area[0], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("resolutions", [(4, 8), (4, 8, 16, 32), ()])
def test_render_heatmaps_wrong_resolution_count_raises(resolutions):
    b = sample_hierarchical(1, (1, 2, 4), seed=0)
    with pytest.raises(ValueError, match="3 heatmap levels"):
        render_heatmaps(b, resolutions)


# ---------------------------------------------------------------------------------------------------------
# HeatmapSpec: conversion, JSON, editing
# ---------------------------------------------------------------------------------------------------------
def test_spec_from_batch_stores_offsets():
    b = sample_hierarchical(3, (1, 2, 4), seed=4)
    spec = HeatmapSpec.from_batch(b, index=2)
    assert spec.mode == "hierarchical"
    assert [len(lv) for lv in spec.levels] == [1, 2, 4]
    assert [[c.parent for c in lv] for lv in spec.levels] == [[None], [0, 0], [0, 0, 1, 1]]
    c0 = b.levels[0].centres[2, 0]
    c1 = b.levels[1].centres[2]
    c2 = b.levels[2].centres[2]
    assert spec.levels[0][0].x == pytest.approx(float(c0[0]))
    # level-1 centres store the offset from c0, level-2 centres the offset from their level-1 parent
    assert spec.levels[1][1].x == pytest.approx(float(c1[1, 0] - c0[0]), abs=1e-6)
    assert spec.levels[1][1].y == pytest.approx(float(c1[1, 1] - c0[1]), abs=1e-6)
    assert spec.levels[2][3].x == pytest.approx(float(c2[3, 0] - c1[1, 0]), abs=1e-6)
    assert spec.levels[2][3].y == pytest.approx(float(c2[3, 1] - c1[1, 1]), abs=1e-6)
    for li in range(3):
        for ci in range(len(spec.levels[li])):
            ax, ay = spec.absolute(li, ci)
            assert ax == pytest.approx(float(b.levels[li].centres[2, ci, 0]), abs=1e-6)
            assert ay == pytest.approx(float(b.levels[li].centres[2, ci, 1]), abs=1e-6)


@pytest.mark.parametrize("make", [_hier_spec, _multi_spec])
def test_spec_json_round_trip(make):
    spec = make()
    spec.validate()
    text = spec.to_json()
    json.loads(text)  # real JSON
    back = HeatmapSpec.from_json(text)
    assert back == spec
    assert HeatmapSpec.from_json(spec.to_json(indent=None)) == spec
    assert HeatmapSpec.from_dict(spec.to_dict()) == spec
    assert spec.copy() == spec and spec.copy() is not spec


def test_spec_json_round_trip_keeps_edits():
    spec = _hier_spec()
    spec.levels[1][0].enabled = False
    spec.levels[2][2].weight = 0.3
    spec.move_by(0, 0, 0.05, -0.02)
    assert HeatmapSpec.from_json(spec.to_json()) == spec


def test_copy_is_deep():
    spec = _hier_spec()
    cp = spec.copy()
    cp.move_to(0, 0, 0.2, 0.2)
    cp.levels[1][0].sigma = 0.5
    assert spec != cp
    assert spec.levels[1][0].sigma != 0.5


@pytest.mark.parametrize("sampler", [lambda: sample_hierarchical(4, (1, 2, 4), seed=21),
                                     lambda: sample_multi_object(4, 3, seed=21)])
def test_to_batch_from_batch_round_trip(sampler):
    b = sampler()
    for i in range(b.batch_size):
        back = HeatmapSpec.from_batch(b, i).to_batch()
        assert back.mode == b.mode
        assert back.parents == b.parents
        assert back.batch_size == 1
        for lb, lo in zip(back.levels, b.levels):
            torch.testing.assert_close(lb.centres, lo.centres[i:i + 1], rtol=0, atol=1e-6)
            torch.testing.assert_close(lb.sigmas, lo.sigmas[i:i + 1])
            torch.testing.assert_close(lb.weights, lo.weights[i:i + 1])


def test_move_root_moves_subtree():
    spec = _hier_spec()
    before_abs = {(li, ci): spec.absolute(li, ci) for li in range(3) for ci in range(len(spec.levels[li]))}
    before_off = {(li, ci): (spec.levels[li][ci].x, spec.levels[li][ci].y)
                  for li in (1, 2) for ci in range(len(spec.levels[li]))}
    x0, y0 = before_abs[(0, 0)]
    nx, ny = x0 + 0.13, y0 - 0.07
    spec.move_to(0, 0, nx, ny)
    assert spec.absolute(0, 0) == pytest.approx((nx, ny))
    for (li, ci), (bx, by) in before_abs.items():
        ax, ay = spec.absolute(li, ci)
        assert ax - bx == pytest.approx(0.13, abs=1e-9)
        assert ay - by == pytest.approx(-0.07, abs=1e-9)
    for (li, ci), off in before_off.items():
        assert (spec.levels[li][ci].x, spec.levels[li][ci].y) == off
    # the tensor form follows too
    b = spec.to_batch()
    for li in range(3):
        for ci in range(len(spec.levels[li])):
            bx, by = before_abs[(li, ci)]
            assert float(b.levels[li].centres[0, ci, 0]) == pytest.approx(bx + 0.13, abs=1e-6)
            assert float(b.levels[li].centres[0, ci, 1]) == pytest.approx(by - 0.07, abs=1e-6)


def test_move_child_moves_only_its_subtree():
    spec = _hier_spec()
    before = {(li, ci): spec.absolute(li, ci) for li in range(3) for ci in range(len(spec.levels[li]))}
    # level-1 centre 1 is the parent of level-2 centres 2 and 3
    x1, y1 = before[(1, 1)]
    spec.move_to(1, 1, 0.25, 0.75)
    assert spec.absolute(1, 1) == pytest.approx((0.25, 0.75))
    dx, dy = 0.25 - x1, 0.75 - y1
    for ci in (2, 3):
        ax, ay = spec.absolute(2, ci)
        assert ax == pytest.approx(before[(2, ci)][0] + dx)
        assert ay == pytest.approx(before[(2, ci)][1] + dy)
    for key in [(0, 0), (1, 0), (2, 0), (2, 1)]:
        assert spec.absolute(*key) == pytest.approx(before[key])
    # a leaf goes exactly where it is put
    spec.move_to(2, 0, 0.9, 0.1)
    assert spec.absolute(2, 0) == pytest.approx((0.9, 0.1))
    b = spec.to_batch()
    assert b.levels[2].centres[0, 0].tolist() == pytest.approx([0.9, 0.1], abs=1e-6)
    # move_by is relative
    spec.move_by(2, 0, -0.1, 0.2)
    assert spec.absolute(2, 0) == pytest.approx((0.8, 0.3))


def test_move_multi_object():
    spec = _multi_spec()
    others = [spec.absolute(0, i) for i in (0, 2)]
    spec.move_to(0, 1, 0.1, 0.2)
    assert spec.absolute(0, 1) == pytest.approx((0.1, 0.2))
    assert [spec.absolute(0, i) for i in (0, 2)] == others


def test_disabled_centre_renders_as_zero_weight():
    spec = _multi_spec()
    spec.levels[0][1].weight = 0.8
    spec.levels[0][1].enabled = False
    b = spec.to_batch()
    assert b.levels[0].weights[0].tolist() == pytest.approx([1.0, 0.0, 1.0])
    maps = render_level(b.levels[0], 16)
    assert torch.count_nonzero(maps[0, 1]) == 0
    assert float(maps[0, 0].sum()) > 0 and float(maps[0, 2].sum()) > 0
    assert spec.levels[0][1].weight == 0.8  # the weight is kept for re-enabling
    spec.levels[0][1].enabled = True
    assert spec.to_batch().levels[0].weights[0, 1].item() == pytest.approx(0.8)


def test_spec_validates_for_sampled_configs():
    for enc in ("sel_norm", "sel_concat", "sel_indoor"):
        g, _ = preset(64, enc)
        spec = HeatmapSpec.from_batch(sample_heatmaps(g.heatmap, 1, seed=0))
        spec.validate(g)


# ---------------------------------------------------------------------------------------------------------
# HeatmapSpec: bad specs
# ---------------------------------------------------------------------------------------------------------
def test_heatmap_spec_error_is_value_error():
    assert issubclass(HeatmapSpecError, ValueError)
    assert issubclass(HeatmapSpecError, SpatialGANError)


def _raises(spec_or_call, *fragments, config=None):
    with pytest.raises(HeatmapSpecError) as info:
        if callable(spec_or_call):
            spec_or_call()
        else:
            spec_or_call.validate(config)
    msg = str(info.value)
    for f in fragments:
        assert f in msg, (f, msg)
    return msg


def test_nan_x_raises():
    spec = _hier_spec()
    spec.levels[0][0].x = float("nan")
    _raises(spec, "levels[0][0].x")


@pytest.mark.parametrize("value", [float("inf"), "0.3", None, True])
def test_non_finite_or_non_number_raises(value):
    spec = _hier_spec()
    spec.levels[2][1].y = value
    _raises(spec, "levels[2][1].y")


@pytest.mark.parametrize("sigma", [0.0, -0.1])
def test_non_positive_sigma_raises(sigma):
    spec = _hier_spec()
    spec.levels[1][0].sigma = sigma
    _raises(spec, "levels[1][0].sigma")


def test_nan_sigma_and_huge_sigma_raise():
    spec = _hier_spec()
    spec.levels[1][1].sigma = float("nan")
    _raises(spec, "levels[1][1].sigma")
    spec = _hier_spec()
    spec.levels[1][1].sigma = 5.0
    _raises(spec, "levels[1][1].sigma")


def test_negative_weight_raises():
    spec = _multi_spec()
    spec.levels[0][2].weight = -1.0
    _raises(spec, "levels[0][2].weight")


def test_centre_far_outside_raises():
    spec = _multi_spec()
    spec.levels[0][1].x = 3.0
    _raises(spec, "levels[0][1]")
    # a child whose offset puts it far outside (absolute position counts, not the stored offset)
    spec = _hier_spec()
    spec.move_to(2, 3, 1.0, 0.5)
    spec.validate()
    spec.levels[2][3].x += 1.2
    _raises(spec, "levels[2][3]")
    # slightly outside the image is allowed (a half-visible object)
    spec = _multi_spec()
    spec.levels[0][0].x = -0.3
    spec.validate()


@pytest.mark.parametrize("parent", [2, -1, None, "0"])
def test_bad_parent_raises(parent):
    spec = _hier_spec()
    spec.levels[2][1].parent = parent
    _raises(spec, "levels[2][1].parent")


def test_root_with_parent_raises():
    spec = _hier_spec()
    spec.levels[0][0].parent = 0
    _raises(spec, "levels[0][0].parent")
    spec = _multi_spec()
    spec.levels[0][2].parent = 1
    _raises(spec, "levels[0][2].parent")


def test_wrong_centre_count_for_model_raises():
    g = GeneratorConfig(resolution=64, encoding="sel_norm",
                        heatmap=HeatmapConfig(mode="hierarchical", centres_per_level=(1, 2, 4)))
    spec = _hier_spec()
    spec.validate(g)
    spec.levels[2].pop()  # 3 centres at level 2
    spec.validate()  # fine on its own
    _raises(spec, "levels[2]", "3", "4", config=g)
    spec = _hier_spec()
    spec.levels.pop()  # 2 levels for a 3-level model
    _raises(spec, "levels", config=g)


def test_wrong_object_count_for_sel_indoor_raises():
    g = GeneratorConfig(resolution=64, encoding="sel_indoor", heatmap=HeatmapConfig(mode="multi", num_objects=3))
    _multi_spec(n=3).validate(g)
    spec = _multi_spec(n=2)
    spec.validate()
    _raises(spec, "levels[0]", "2", "3", config=g)


def test_mode_mismatch_raises():
    g = GeneratorConfig(resolution=64, encoding="sel_norm", heatmap=HeatmapConfig(mode="hierarchical"))
    _raises(_multi_spec(), "mode", config=g)
    g_multi = GeneratorConfig(resolution=64, encoding="sel_indoor", heatmap=HeatmapConfig(mode="multi"))
    _raises(_hier_spec(), "mode", config=g_multi)


def test_spec_for_encoding_none_raises():
    g = GeneratorConfig(resolution=64, encoding="none")
    _raises(_hier_spec(), "none", config=g)


def test_bad_mode_and_empty_levels_raise():
    _raises(HeatmapSpec("grid", [[Centre(0.5, 0.5, 0.1)]]), "mode")
    _raises(HeatmapSpec("multi", []), "levels")
    _raises(HeatmapSpec("hierarchical", [[Centre(0.5, 0.5, 0.1)], []]), "levels[1]")
    _raises(HeatmapSpec("multi", [[Centre(0.5, 0.5, 0.1)], [Centre(0.5, 0.5, 0.1)]]), "one level")


def test_from_json_invalid_text_raises():
    _raises(lambda: HeatmapSpec.from_json("{not json"), "JSON")
    _raises(lambda: HeatmapSpec.from_json(""), "JSON")


def test_from_json_non_object_raises():
    _raises(lambda: HeatmapSpec.from_json("[1, 2, 3]"), "object")
    _raises(lambda: HeatmapSpec.from_json('{"mode": "multi", "levels": 3}'), "levels")


def test_from_json_missing_x_raises():
    d = _hier_spec().to_dict()
    del d["levels"][1][0]["x"]
    msg = _raises(lambda: HeatmapSpec.from_json(json.dumps(d)), "levels[1][0]", "x")
    assert "missing" in msg


def test_from_json_unknown_field_raises():
    d = _multi_spec().to_dict()
    d["levels"][0][2]["colour"] = "red"
    _raises(lambda: HeatmapSpec.from_json(json.dumps(d)), "levels[0][2]", "colour")


def test_from_json_bad_value_raises_with_path():
    d = _hier_spec().to_dict()
    d["levels"][1][0]["sigma"] = -0.5
    _raises(lambda: HeatmapSpec.from_json(json.dumps(d)), "levels[1][0].sigma")


def test_from_json_bad_version_raises():
    d = _multi_spec().to_dict()
    d["version"] = 99
    _raises(lambda: HeatmapSpec.from_json(json.dumps(d)), "version")


def test_bool_parent_and_non_bool_enabled_are_rejected() -> None:
    spec = HeatmapSpec.from_batch(sample_hierarchical(1, seed=0))
    spec.levels[1][0].parent = True  # bool is an int in Python; it must not pass as index 1
    with pytest.raises(HeatmapSpecError, match=r"levels\[1\]\[0\]\.parent"):
        spec.validate()
    spec = HeatmapSpec.from_batch(sample_hierarchical(1, seed=0))
    data = spec.to_dict()
    data["levels"][0][0]["enabled"] = "no"
    with pytest.raises(HeatmapSpecError, match=r"levels\[0\]\[0\]\.enabled"):
        HeatmapSpec.from_dict(data)


def test_independent_sampling_drops_the_hierarchy():
    """Non-Hie (Table IV): deeper centres no longer cluster around the root, but the tree stays valid."""
    paper = sample_hierarchical(4000, (1, 2, 4), seed=0)
    indep = sample_hierarchical(4000, (1, 2, 4), seed=0, independent=True)
    assert indep.parents == paper.parents
    spread = lambda b: (b.levels[2].centres - b.levels[0].centres).norm(dim=-1).mean().item()  # noqa: E731
    assert spread(paper) < 0.3 < spread(indep)
    assert torch.equal(indep.levels[0].centres, paper.levels[0].centres)  # the root is drawn the same way
    assert torch.equal(sample_heatmaps(HeatmapConfig(), 8, seed=3, independent=True).levels[2].centres,
                       sample_hierarchical(8, (1, 2, 4), seed=3, independent=True).levels[2].centres)


def test_removing_a_centre_takes_its_subtree():
    """A hierarchical object is a root with its sub-tree: removing a centre switches off its descendants too
    (weights kept), restoring brings them back; in multi mode an object is one centre."""
    spec = _hier_spec()
    assert spec.subtree(1, 1) == [(1, 1), (2, 2), (2, 3)]
    assert spec.subtree(0, 0) == [(0, 0), (1, 0), (1, 1), (2, 0), (2, 1), (2, 2), (2, 3)]
    spec.set_enabled(1, 1, False)
    assert [[c.enabled for c in lv] for lv in spec.levels] == [[True], [True, False], [True, True, False, False]]
    assert spec.to_batch().levels[2].weights.tolist() == [[1.0, 1.0, 0.0, 0.0]]
    spec.set_enabled(0, 0, False)
    assert not any(c.enabled for lv in spec.levels for c in lv)
    spec.set_enabled(0, 0, True)
    assert all(c.enabled and c.weight == 1.0 for lv in spec.levels for c in lv)
    multi = _multi_spec()
    multi.set_enabled(0, 1, False)
    assert [c.enabled for c in multi.levels[0]] == [True, False, True]
