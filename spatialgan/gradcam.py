"""GradCAM of the discriminator (paper Sec. 3.1, 3.3).

The maps are differentiable with respect to the input image, so L_align can train G through them; D's own
parameters are frozen while they are computed.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterable, Iterator, Literal, Protocol, Sequence

import torch
import torch.nn.functional as F

from .discriminator import Discriminator, DiscriminatorOutput

# The score GradCAM differentiates. "g_loss": softplus(-D(x)), G's non-saturating loss (EqGAN-SA's choice);
# "logit": D(x) itself, "maximising the output of D" (paper Sec. 3.1). The paper finds the two maps "almost the
# same" for a well-trained D. For our small, briefly trained ones they differ: over four seeds, L_align on "logit"
# never made the pet follow its heatmap (co-move 0.00-0.01), on "g_loss" up to 0.43 (bench/results/rows_pets32).
CamScore = Literal["g_loss", "logit"]
CAM_SCORES: tuple[str, ...] = ("g_loss", "logit")


@contextlib.contextmanager
def frozen(module: Any) -> Iterator[Any]:
    """Stop gradients from accumulating in `module`'s parameters (restored afterwards) and use eval mode."""
    flags = [p.requires_grad for p in module.parameters()]
    was_training = module.training
    module.requires_grad_(False).eval()
    try:
        yield module
    finally:
        for p, f in zip(module.parameters(), flags):
            p.requires_grad_(f)
        module.train(was_training)


def normalise_per_sample(cam: torch.Tensor) -> torch.Tensor:
    """Min-max normalise each map to [0, 1]; min and max are detached (they are a rescaling, not a target),
    and flat maps (0 / 0) become 1."""
    lo = cam.detach().amin((1, 2, 3), keepdim=True)
    hi = cam.detach().amax((1, 2, 3), keepdim=True)
    return torch.nan_to_num((cam - lo) / (hi - lo), nan=1.0, posinf=1.0)


class Observable(Protocol):
    """A discriminator GradCAM can read: ours, or an imported snapshot's (`spatialgan.importers.discriminator`)."""

    def observe(self, img: torch.Tensor, feature_resolutions: Iterable[int] = ()) -> DiscriminatorOutput: ...


def gradcam(D: Discriminator | Observable, images: torch.Tensor, resolutions: Sequence[int],
            score: CamScore = "g_loss", labels: torch.Tensor | None = None) -> dict[int, torch.Tensor]:
    """GradCAM_D at each resolution: ReLU(sum_c w_c A_c) with w_c the spatial mean of d score / d A_c, the
    score summed over the batch (see CamScore). Returns resolution -> (B, 1, r, r) in [0, 1].

    `labels`: the one-hot classes of a conditional discriminator. Gradients reach the generator through the
    activations A and through the gradients themselves
    (create_graph); images that do not require grad (real ones, for display) are handled too.
    """
    if not images.requires_grad:
        images = images.detach().requires_grad_(True)
    with frozen(D):
        out = D.observe(images, resolutions) if labels is None else D.observe(images, resolutions, c=labels)
        return cams_from_output(out, resolutions, score)


def cams_from_output(out: DiscriminatorOutput, resolutions: Sequence[int],
                     score: CamScore = "g_loss") -> dict[int, torch.Tensor]:
    """GradCAM from a D forward that kept the activations at `resolutions`; lets the trainer share one D
    pass between the adversarial loss and L_align. Run D frozen (see `frozen`)."""
    if score not in CAM_SCORES:
        raise ValueError(f"score must be one of {CAM_SCORES}, got {score!r}")
    total = (F.softplus(-out.logits) if score == "g_loss" else out.logits).sum()
    acts = [out.features[r] for r in resolutions]
    grads = torch.autograd.grad(total, acts, create_graph=torch.is_grad_enabled())
    cams = {}
    for r, a, g in zip(resolutions, acts, grads):
        weights = g.mean((2, 3), keepdim=True)
        cams[r] = normalise_per_sample(F.relu((weights * a).sum(1, keepdim=True)))
    return cams


def upsampled(cam: torch.Tensor, size: int) -> torch.Tensor:
    """A GradCAM map resized to `size` pixels as EqGAN-SA resizes it (bilinear, corners aligned)."""
    return cam if cam.shape[-1] == size else F.interpolate(cam, size=(size, size), mode="bilinear", align_corners=True)


def attention_map(D: Discriminator | Observable, images: torch.Tensor, resolutions: Sequence[int],
                  labels: torch.Tensor | None = None) -> torch.Tensor:
    """Where D looks, for display: GradCAM at each of `resolutions` (G's loss as the score, as L_align uses it),
    each resized to the image (`upsampled`), averaged and normalised to [0, 1]: (B, 1, R, R)."""
    with torch.enable_grad():
        cams = gradcam(D, images.detach().float(), resolutions, "g_loss", labels)
    up = [upsampled(c.detach(), images.shape[-1]) for c in cams.values()]
    return normalise_per_sample(torch.stack(up).mean(0))
