"""The discriminators of training snapshots: `spatialgan.load_discriminator` gives upstream's logits, GradCAM reads
them, and a file without D says so in one line.

`tests/data/discriminator_reference.npz` holds six small random discriminators with perturbed weights, each built
by its authors' code run apart from this project (on the CPU, float32 path): EqGAN-SA's at 32 px (float16 blocks,
conv clamp) and 64 px; StyleGAN2-ADA's plain 32 px and class-conditional 32 px (float16 blocks, conv clamp);
StyleGAN3's (its snapshots train StyleGAN2's D) plain 16 px and conditional 32 px with a minibatch-std group of
2. For each: random images, labels, and the logits upstream computed for the batch of four and for each picture
alone (the minibatch-std group differs). The test writes the weights into a network pickle with our own writer
and opens it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from spatialgan import CheckpointError, SpatialGANError, gradcam, load_discriminator
from spatialgan.importers import load_imported_discriminator, save_imported

from netpickle_writer import reference_network, write_network_pickle

REF = np.load(Path(__file__).with_name("data") / "discriminator_reference.npz")
META = json.loads(bytes(REF["__meta__"]).decode())
KEYS = sorted(META)


def _pickle(tmp_path: Path, key: str, with_d: bool = True) -> Path:
    D = reference_network(REF, META, key, "D") if with_d else None
    return write_network_pickle(tmp_path / f"{key}.pkl", {"G": None, "D": D, "G_ema": None, "augment_pipe": None})


def _inputs(key: str, D: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    c = torch.from_numpy(REF[f"{key}/c"])
    return torch.from_numpy(REF[f"{key}/img"]), (c if D.c_dim else None)


@pytest.mark.parametrize("key", KEYS)
def test_discriminator_matches_upstream(tmp_path: Path, key: str) -> None:
    D = load_discriminator(_pickle(tmp_path, key))
    img, c = _inputs(key, D)
    with torch.no_grad():
        np.testing.assert_allclose(D(img, c).numpy(), REF[f"{key}/logits_b4"], atol=1e-3, rtol=0)
        alone = torch.cat([D(img[i: i + 1], None if c is None else c[i: i + 1]) for i in range(len(img))])
    np.testing.assert_allclose(alone.numpy(), REF[f"{key}/logits_b1"], atol=1e-3, rtol=0)
    # the references can tell a wrong network from a right one: pictures differ in their logits
    assert np.ptp(REF[f"{key}/logits_b4"]) > 1e-2
    # a batch of four and four batches of one differ by the minibatch std, as upstream's do
    assert np.abs(REF[f"{key}/logits_b4"] - REF[f"{key}/logits_b1"]).max() > 1e-4


def test_the_references_cover_what_released_snapshots_use() -> None:
    kinds = {META[k]["upstream"].split(" ")[0] for k in KEYS}
    assert kinds == {"genforce/eqgan-sa", "NVlabs/stylegan2-ada-pytorch", "NVlabs/stylegan3"}
    assert any(META[k]["init_kwargs"]["c_dim"] > 0 for k in KEYS)
    assert any(META[k]["init_kwargs"]["conv_clamp"] and META[k]["init_kwargs"]["num_fp16_res"] for k in KEYS)


def test_gradcam_reads_an_imported_discriminator(tmp_path: Path) -> None:
    D = load_discriminator(_pickle(tmp_path, "ada32c"))
    img, c = _inputs("ada32c", D)
    assert D.feature_resolutions == [16, 8, 4]
    cams = gradcam(D, img, [4, 8, 16], labels=c)
    for r, cam in cams.items():
        cam = cam.detach()
        assert cam.shape == (4, 1, r, r) and float(cam.min()) >= 0 and float(cam.max()) <= 1
    assert not any(p.requires_grad for p in D.parameters()), "D is loaded frozen"
    with pytest.raises(ValueError, match="conditional"):
        gradcam(D, img, [8])  # no labels for a conditional D: said, not guessed


def test_a_file_without_a_discriminator_says_so(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="holds no discriminator") as err:
        load_discriminator(_pickle(tmp_path, "eq32", with_d=False))
    assert "\n" not in str(err.value)
    with pytest.raises(CheckpointError, match="holds no discriminator"):
        load_discriminator(Path(__file__).parents[1] / "checkpoints" / "pets64.safetensors")


def test_a_batch_that_does_not_divide_into_groups_is_refused(tmp_path: Path) -> None:
    D = load_discriminator(_pickle(tmp_path, "ada32"))  # minibatch-std groups of 4
    img, _ = _inputs("ada32", D)
    with pytest.raises(SpatialGANError, match="groups of 4: a batch of 6"):
        D(torch.cat([img, img[:2]]))


def test_saved_beside_an_imported_generator(tmp_path: Path) -> None:
    from test_import import _pickle as generator_pickle

    from spatialgan.importers import import_pickle

    G = import_pickle(generator_pickle(tmp_path, "uncond32"))
    D = load_discriminator(_pickle(tmp_path, "eq32"))
    path = save_imported(tmp_path / "m.safetensors", G, {}, D=D)
    again = load_imported_discriminator(path)
    img, _ = _inputs("eq32", D)
    with torch.no_grad():
        assert torch.equal(D(img), again(img))
    assert torch.equal(load_discriminator(path)(img), again(img))
    bare = save_imported(tmp_path / "bare.safetensors", G, {})
    with pytest.raises(CheckpointError, match="holds no discriminator"):
        load_discriminator(bare)


def test_the_editor_shows_where_d_looks_and_says_when_it_cannot(tmp_path: Path) -> None:
    """The editor's presenter and worker: with the overlay on, each full picture comes with D's GradCAM; a file
    without D turns the overlay off with one line in the status."""
    import time

    from app.controller import Controller
    from app.presenter import Presenter
    from app.worker import Worker
    from spatialgan import load
    from test_import_eqgan import REF as G_REF, META as G_META

    with_d = write_network_pickle(tmp_path / "snap.pkl", {"G_ema": reference_network(G_REF, G_META, "eq32", "G_ema"),
                                                          "D": reference_network(REF, META, "eq32", "D")})
    for path, disc in ((with_d, str(with_d)), (with_d, "")):
        worker = Worker(load(path), torch.device("cpu"), str(path), disc)
        try:
            c = Controller.for_worker(worker, 3, 0.7)
            c.autosave_path = None  # type: ignore[assignment]
            p = Presenter(c, worker)
            p.show_attention(True)
            end, seen = time.monotonic() + 60, None
            while time.monotonic() < end and seen is None:
                u = p.tick()
                seen = u.attention if u.attention is not None else ("failed" if u.attention_failed else None)
                time.sleep(0.005)
            if disc:
                assert isinstance(seen, np.ndarray) and seen.shape == (32, 32) and 0 <= seen.min() and seen.max() <= 1
                assert p.attention_shown is seen and p.status.error == ""
            else:
                assert seen == "failed" and not p.attention and p.attention_shown is None
                assert p.status.error.startswith("GradCAM: ") and "no discriminator" in p.status.error
        finally:
            worker.close()

