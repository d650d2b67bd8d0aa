"""GradCAM of D and the alignment losses (Eq. 4, Eq. 5), plus the GAN losses and R1."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from conftest import tiny_models
from spatialgan import alignment_loss, d_logistic, g_nonsaturating, gradcam, r1_penalty, sample_heatmaps
from spatialgan.heatmaps import combine
from spatialgan.losses import align_distance, truncated_l1


@pytest.mark.parametrize("encoding,mode,indoor", [("sel_norm", "hierarchical", False),
                                                  ("sel_indoor", "multi", True)])
def test_align_gradient_reaches_g_not_d(encoding: str, mode: str, indoor: bool) -> None:
    G, D = tiny_models(encoding, mode)
    G.train()
    hm = G.heatmap_inputs(sample_heatmaps(G.config.heatmap, 4, seed=0))
    img = G(G.sample_z(4, seed=0), hm).image
    loss = alignment_loss(D, img, hm, G.config.heatmap.levels, indoor=indoor)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    g_grads = [p.grad for p in G.parameters() if p.grad is not None]
    assert len(g_grads) > len(list(G.parameters())) // 2
    assert sum(g.abs().sum().item() for g in g_grads) > 0
    assert all(p.grad is None for p in D.parameters()), "L_align must not update D"
    assert all(p.requires_grad for p in D.parameters()), "D's trainability is restored afterwards"
    assert D.training, "D's mode is restored afterwards"


@pytest.mark.parametrize("score", ["g_loss", "logit"])
def test_gradcam_matches_definition(score: str) -> None:
    _, D = tiny_models("sel_norm")
    img = torch.randn(2, 3, 32, 32, requires_grad=True)
    cams = gradcam(D, img, [4, 8, 16], score)  # type: ignore[arg-type]
    out = D(img, feature_resolutions=[8])
    differentiated = F.softplus(-out.logits) if score == "g_loss" else out.logits
    (g,) = torch.autograd.grad(differentiated.sum(), [out.features[8]])
    raw = F.relu((g.mean((2, 3), keepdim=True) * out.features[8]).sum(1, keepdim=True))
    lo, hi = raw.amin((1, 2, 3), keepdim=True), raw.amax((1, 2, 3), keepdim=True)
    assert torch.allclose(cams[8], (raw - lo) / (hi - lo), atol=1e-5)
    for r, cam in cams.items():
        assert cam.shape == (2, 1, r, r)
        assert cam.min() >= 0 and cam.max() <= 1 + 1e-6
    # Differentiable w.r.t. the image: the path L_align uses to train G.
    (gi,) = torch.autograd.grad(cams[16].sum() + cams[8].square().sum(), img)
    assert gi.abs().sum() > 0


def test_gradcam_scores_differ_and_unknown_score_is_refused() -> None:
    _, D = tiny_models("sel_norm")
    img = torch.randn(2, 3, 32, 32)
    fake_cam, real_cam = (gradcam(D, img, [8], s)[8] for s in ("g_loss", "logit"))  # type: ignore[arg-type]
    # The weights of the two scores differ by a per-sample factor of -sigmoid(-D(x)), so ReLU keeps opposite parts.
    assert not torch.allclose(fake_cam, real_cam)
    with pytest.raises(ValueError, match="score"):
        gradcam(D, img, [8], "real")  # type: ignore[arg-type]


def test_gradcam_on_real_images_without_grad() -> None:
    _, D = tiny_models("sel_norm")
    cams = gradcam(D, torch.randn(1, 3, 32, 32), [16])
    assert cams[16].shape == (1, 1, 16, 16)


def test_truncation_drops_errors_below_tau() -> None:
    pred = torch.tensor([[0.10, 0.20, 0.50, 0.90]], requires_grad=True)
    target = torch.zeros(1, 4)
    loss = truncated_l1(pred, target, tau=0.25)
    assert loss.item() == pytest.approx((0.5 + 0.9) / 2)
    loss.sum().backward()
    assert pred.grad[0, :2].abs().sum() == 0, "errors below tau must not be penalised"
    assert (pred.grad[0, 2:] > 0).all()
    # No pixel above tau: the plain mean, never 0 / 0.
    small = truncated_l1(torch.tensor([[0.1, 0.2]]), torch.zeros(1, 2), tau=0.25)
    assert small.item() == pytest.approx(0.15)
    # Per sample: one sample's large errors do not dilute another's.
    two = truncated_l1(torch.tensor([[0.9, 0.0], [0.3, 0.1]]), torch.zeros(2, 2), tau=0.25)
    assert two.tolist() == pytest.approx([0.9, 0.3])


def test_indoor_alignment_takes_the_closest_candidate() -> None:
    sub = torch.zeros(1, 3, 8, 8)
    sub[0, 0, 1, 1] = 1.0
    sub[0, 1, 6, 6] = 1.0
    sub[0, 2, 3, 5] = 1.0
    heat = {8: sub}
    cam_obj1 = {8: sub[:, 1:2].clone()}  # D attends to object 1 only
    assert align_distance(cam_obj1, heat, indoor=True).item() == pytest.approx(0.0)
    plain = align_distance(cam_obj1, heat, indoor=False).item()  # vs H = sum of all: two pixels off by 1
    assert plain == pytest.approx(1.0)
    cam_all = {8: combine(sub)}
    assert align_distance(cam_all, heat, indoor=True).item() == pytest.approx(0.0)


def test_gan_losses_and_r1() -> None:
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    sp = lambda x: math.log1p(math.exp(x))  # noqa: E731
    assert d_logistic(real, fake).item() == pytest.approx((sp(0.5) + sp(-3)) / 2 + (sp(-2) + sp(1)) / 2)
    assert g_nonsaturating(fake).item() == pytest.approx((sp(-0.5) + sp(3)) / 2)
    _, D = tiny_models("sel_norm")
    pen = r1_penalty(D, torch.randn(3, 3, 32, 32))
    assert pen.shape == (3,) and (pen > 0).all()
    pen.mean().backward()
    assert sum(p.grad.abs().sum().item() for p in D.parameters() if p.grad is not None) > 0


def _scene(blob_at: tuple[float, float] | None, background_shift: float = 0.0, r: int = 32) -> torch.Tensor:
    """A (1, 3, r, r) image: a vertical colour ramp with a dark stripe at x = 0.05 (+ `background_shift`) and,
    where given, a bright blob of sigma 0.1 at `blob_at` (x, y)."""
    u = (torch.arange(r) + 0.5) / r
    y, x = torch.meshgrid(u, u, indexing="ij")
    img = torch.stack([y, 1 - y, 0.5 * torch.ones_like(y)]) * 2 - 1
    img = torch.where((x - 0.05 - background_shift).abs() < 0.04, -torch.ones_like(img), img)
    if blob_at is not None:
        blob = torch.exp(-((x - blob_at[0]) ** 2 + (y - blob_at[1]) ** 2) / (2 * 0.1**2))
        img = img * (1 - blob) + blob
    return img[None]


def test_move_consistency_rewards_carrying_the_object_and_nothing_else() -> None:
    """The ideal response to a moved heatmap scores near 0 on both terms; ignoring the move fails the carried term,
    and shifting the whole picture fails the stay term."""
    from spatialgan.losses import move_consistency

    before, after = torch.tensor([[0.3, 0.5]]), torch.tensor([[0.6, 0.5]])
    sigma = torch.tensor([0.1])
    original = _scene((0.3, 0.5))
    score = lambda img: [float(t) for t in move_consistency(img, original, before, after, sigma)]  # noqa: E731
    ideal, ignored, everything = score(_scene((0.6, 0.5))), score(original), score(_scene((0.6, 0.5), 0.3))
    assert ideal[0] < 0.05 and ideal[1] < 0.05, ideal
    assert ignored[0] > 0.4 and ignored[1] == 0.0, ignored
    assert everything[0] < 0.05 and everything[1] > 0.15, everything
