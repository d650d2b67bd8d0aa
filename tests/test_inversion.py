"""Photo inversion (`spatialgan.inversion`, `spatialgan-invert`) on held-out procedural images: images no bundled
model trained on (another dataset seed), at reduced steps. Each stage must improve the reconstruction, and the
session it writes must open in the editor's session reader with the tuned weights beside it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from app.state import read_session
from spatialgan import load_checkpoint, load_generator
from spatialgan.cli.invert import main as invert_main
from spatialgan.data.procedural import PetsDataset
from spatialgan.inversion import InversionConfig, invert, psnr
from spatialgan.photo import to_tensor

ROOT = Path(__file__).resolve().parents[1]
HELD_OUT = 7919  # a dataset seed no bundled model was trained on (they used seed 0)


def test_each_stage_improves_the_reconstruction() -> None:
    G, _ = load_generator(str(ROOT / "checkpoints" / "pets64.safetensors"), None, "cpu")
    sample = PetsDataset(64, seed=HELD_OUT).sample(3)
    target = to_tensor(sample.image)
    seen: list[str] = []
    r = invert(G, target, InversionConfig(w_steps=25, wplus_steps=25, pti_steps=25, locality_samples=1),
               callback=lambda stage, step, loss: seen.append(stage))
    assert r.psnr["w"] < r.psnr["w+"] < r.psnr["final"], r.psnr
    assert r.psnr["final"] > 20, r.psnr
    assert seen.count("w") == seen.count("w+") == seen.count("pti") == 25
    assert abs(psnr(r.image, target) - r.psnr["final"]) < 1e-6
    assert r.spec is not None and len(r.spec.levels) == 3
    assert r.model is not G and any(not torch.equal(a, b) for a, b in zip(r.model.parameters(), G.parameters()))
    with torch.no_grad():  # the locality term: another latent's picture barely moves under the tuned weights
        from spatialgan import render
        other = G.seed_ws(123, psi=0.7)
        before, after = render(G, other, r.spec.to_batch()).image, render(r.model, other, r.spec.to_batch()).image
    assert (after - before).abs().mean() < 0.5 * (r.image - render(G, r.ws, r.spec.to_batch()).image).abs().mean() + 0.05


def test_cancel_keeps_what_was_found() -> None:
    G, _ = load_generator(str(ROOT / "checkpoints" / "rooms64.safetensors"), None, "cpu")
    target = to_tensor(PetsDataset(64, seed=HELD_OUT).sample(1).image)
    r = invert(G, target, InversionConfig(starts=1, w_steps=50, wplus_steps=50, pti_steps=50), cancelled=lambda: True)
    assert r.ws.shape == (1, 4, G.config.num_ws, G.config.w_dim) and np.isfinite(r.psnr["final"])


def test_the_invert_command_writes_a_session_the_editor_reads(tmp_path: Path, capsys) -> None:
    photo = tmp_path / "pet.png"
    img = Image.fromarray(PetsDataset(128, seed=HELD_OUT).sample(5).image).crop((0, 10, 128, 110))
    img.convert("RGBA").save(photo)  # not square, with alpha
    out = tmp_path / "inv"
    assert invert_main([str(photo), "--model", str(ROOT / "checkpoints" / "pets64.safetensors"), "--out", str(out),
                        "--steps", "5"]) == 0
    assert (out / "reconstruction.png").exists() and (out / "tuned.safetensors").exists()
    model_path, edit = read_session(out / "session.json", 64, 1)
    assert model_path == str((out / "tuned.safetensors").resolve())
    assert edit.ws_override is not None and edit.spec is not None and edit.homes == edit.spec.object_places()
    ck = load_checkpoint(model_path)
    assert len(ck.info.meta["base_sha256"]) == 64
    assert "open it: bash tools/editor.sh" in capsys.readouterr().out
    for argv, message in (([str(tmp_path / "none.png")], "no photo"), ([str(photo), "--steps", "0"], "--steps")):
        assert invert_main([*argv, "--model", str(ROOT / "checkpoints" / "pets64.safetensors"), "--out",
                            str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert "error: " in err and message in err and "Traceback" not in err
