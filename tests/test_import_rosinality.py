"""rosinality stylegan2-pytorch checkpoints: the same weights give what its own code computes, generator and
discriminator, read with torch's weights-only loader (a checkpoint that asks to run something is refused).

`tests/data/rosinality_reference.npz` holds two small networks of its code (run apart from this project, on the
CPU through its pure-PyTorch paths; channel widths scaled down 16x so that the file stays small: 32 px with a
2-layer mapping, 64 px with channel multiplier 2 and 3 layers), weights perturbed, and what its code computed: w,
images without and with truncation towards `latent_avg` (its `randomize_noise=False`, i.e. the stored noise), and
its discriminator's logits for a batch of four and for each picture alone. The test writes the checkpoints as its
trainer and its weight converter do, with `torch.save`.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from spatialgan import CheckpointError, load, load_discriminator
from spatialgan.cli.sample import main as sample_main
from spatialgan.importers import import_rosinality

REF = np.load(Path(__file__).with_name("data") / "rosinality_reference.npz")
META = json.loads(bytes(REF["__meta__"]).decode())
KEYS = sorted(META)


def _state(key: str, net: str) -> collections.OrderedDict:
    prefix = f"{key}/{net}/"
    return collections.OrderedDict((k[len(prefix):], torch.from_numpy(REF[k])) for k in REF.files if k.startswith(prefix))


def _checkpoint(tmp_path: Path, key: str, kind: str = "converted") -> Path:
    """As its weight converter writes (g_ema, latent_avg, d) or as its trainer does (g, d, g_ema, optimiser
    states, args; no latent_avg)."""
    m = META[key]
    if kind == "converted":
        ckpt = {"g_ema": _state(key, "g_ema"), "latent_avg": torch.from_numpy(REF[f"{key}/latent_avg"]),
                "d": _state(key, "d")}
    elif kind == "trainer":
        ckpt = {"g": _state(key, "g_ema"), "d": _state(key, "d"), "g_ema": _state(key, "g_ema"),
                "g_optim": {"state": {}, "param_groups": [{"lr": 0.002, "params": [0, 1]}]},
                "d_optim": {"state": {}, "param_groups": []},
                "args": argparse.Namespace(size=m["size"], n_mlp=m["n_mlp"], channel_multiplier=m["channel_multiplier"]),
                "ada_aug_p": 0.0}
    else:  # generator only
        ckpt = {"g_ema": _state(key, "g_ema"), "latent_avg": torch.from_numpy(REF[f"{key}/latent_avg"])}
    path = tmp_path / f"{key}-{kind}.pt"
    torch.save(ckpt, path)
    return path


@pytest.mark.parametrize("key", KEYS)
def test_generator_and_discriminator_match_its_code(tmp_path: Path, key: str) -> None:
    path = _checkpoint(tmp_path, key)
    G = load(path)
    z = torch.from_numpy(REF[f"{key}/z"])
    assert G.img_resolution == META[key]["size"]
    with torch.no_grad():
        ws = G.mapping(z, None)
        np.testing.assert_allclose(ws[:, 0].numpy(), REF[f"{key}/w"], atol=1e-4, rtol=0)
        np.testing.assert_allclose(G.synthesis(ws).numpy(), REF[f"{key}/img_psi1"], atol=1e-3, rtol=0)
        trunc = G.synthesis(G.mapping(z, None, truncation_psi=META[key]["truncation"]))
        np.testing.assert_allclose(trunc.numpy(), REF[f"{key}/img_trunc"], atol=1e-3, rtol=0)
        for i in range(len(z)):  # one picture at a time: the CPU's channels-last path
            np.testing.assert_allclose(G.synthesis(ws[i: i + 1])[0].numpy(), REF[f"{key}/img_psi1"][i], atol=1e-3,
                                       rtol=0)
        D = load_discriminator(path)
        img = torch.from_numpy(REF[f"{key}/d_img"])
        np.testing.assert_allclose(D(img).numpy(), REF[f"{key}/logits_b4"], atol=1e-3, rtol=0)
        alone = torch.cat([D(img[i: i + 1]) for i in range(len(img))])
        np.testing.assert_allclose(alone.numpy(), REF[f"{key}/logits_b1"], atol=1e-3, rtol=0)
    assert np.abs(REF[f"{key}/img_psi1"] - REF[f"{key}/img_trunc"]).max() > 0.1  # truncation is exercised


def test_widths_and_multiplier_come_from_the_weights(tmp_path: Path) -> None:
    G = import_rosinality(_checkpoint(tmp_path, "ros64"))
    assert G.config.synthesis_kwargs["channel_max"] == 32  # its 512, scaled down in the reference
    assert G.config.mapping_kwargs["num_layers"] == META["ros64"]["n_mlp"] and G.w_dim == 24


def test_a_trainer_checkpoint_without_a_mean_estimates_it(tmp_path: Path) -> None:
    G = import_rosinality(_checkpoint(tmp_path, "ros32", "trainer"))  # args (a Namespace) and optimiser states too
    with torch.no_grad():
        sample = G.mapping(torch.randn(4096, G.z_dim, generator=torch.Generator().manual_seed(5)), None)[:, 0].mean(0)
    # the mean of other random draws lies close; the stored mean of the converted file is another vector entirely
    assert (G.mapping.w_avg - sample).norm() < 0.1 * sample.norm()
    assert (G.mapping.w_avg - torch.from_numpy(REF["ros32/latent_avg"])).norm() > 0.1


def test_a_generator_only_checkpoint_has_no_discriminator(tmp_path: Path) -> None:
    path = _checkpoint(tmp_path, "ros32", "generator")
    load(path)
    with pytest.raises(CheckpointError, match="holds no discriminator") as err:
        load_discriminator(path)
    assert "\n" not in str(err.value)


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return os.system, (f"touch {self.marker}",)


def test_a_checkpoint_that_runs_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": _Payload(marker)}, path)
    with pytest.raises(CheckpointError, match=r"(posix|os|nt)\.system.*nothing from it was run"):
        load(path)
    assert not marker.exists()
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint"):
        load(tmp_path / "junk.pt")
    torch.save({"model": {"x": torch.zeros(1)}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="no generator"):
        load(tmp_path / "other.pt")


def test_the_commands_take_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = _checkpoint(tmp_path, "ros32")
    assert sample_main(["-c", str(path), "--seeds", "0-1", "--out", str(tmp_path / "s.png"), "--device", "cpu"]) == 0
    from spatialgan.cli.importer import main as import_main

    out = tmp_path / "r.safetensors"
    assert import_main([str(path), "--out", str(out)]) == 0, capsys.readouterr().err
    img = torch.from_numpy(REF["ros32/d_img"])
    with torch.no_grad():
        assert torch.equal(load_discriminator(out)(img), load_discriminator(path)(img))
