"""Every command takes every model: `spatialgan-sample`, `spatialgan-edit`, `spatialgan-invert` and
`spatialgan-metrics` run on a small network pickle of each imported architecture (StyleGAN2-ADA plain and
class-conditional, EqGAN-SA, StyleGAN3-T and -R), written with upstream's structure from the reference files the
importer tests use; a measure that needs heatmaps says so in one line on a model without them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from draggan.cli import main as edit_main
from spatialgan.cli.invert import main as invert_main
from spatialgan.cli.sample import main as sample_main
from spatialgan.metrics.cli import main as metrics_main

from netpickle_writer import reference_network, write_network_pickle

DATA = Path(__file__).with_name("data")
# architecture -> (reference file, configuration, resolution)
MODELS = {
    "sg2ada": ("stylegan2_ada_reference.npz", "uncond32", 32),
    "sg2ada-conditional": ("stylegan2_ada_reference.npz", "cond64", 64),
    "eqgan-sa": ("eqgan_sa_reference.npz", "eq32", 32),
    "sg3-t": ("stylegan3_reference.npz", "t16", 16),
    "sg3-r": ("stylegan3_reference.npz", "r32c", 32),
}
CONDITIONAL = {"sg2ada-conditional", "sg3-r"}


def _network(file: str, key: str, which: str):
    ref = np.load(DATA / file)
    return reference_network(ref, json.loads(bytes(ref["__meta__"]).decode()), key, which)


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory):
    """The imports the commands cache go to a folder of the test's own."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPATIALGAN_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def pickles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pickles")
    out = {}
    for name, (file, key, _) in MODELS.items():
        # EqGAN-SA's snapshot with its discriminator (the 32 px D of the discriminator references)
        D = _network("discriminator_reference.npz", "eq32", "D") if name == "eqgan-sa" else None
        out[name] = write_network_pickle(folder / f"{name}.pkl", {"G": None, "D": D, "G_ema": _network(file, key, "G_ema"),
                                                                  "augment_pipe": None})
    return out


@pytest.mark.parametrize("name", sorted(MODELS))
def test_sample(pickles: dict[str, Path], tmp_path: Path, name: str, capsys: pytest.CaptureFixture) -> None:
    res = MODELS[name][2]
    out = tmp_path / "s.png"
    extra = ["--class", "2"] if name in CONDITIONAL else []
    assert sample_main(["-c", str(pickles[name]), "--seeds", "0-1", "--scale", "1", "--out", str(out),
                        "--device", "cpu", *extra]) == 0, capsys.readouterr().err
    w, h = Image.open(out).size
    assert h >= 2 * res and w >= res  # two rows of pictures (and heatmap panels where the model has them)
    if name not in CONDITIONAL:
        assert sample_main(["-c", str(pickles[name]), "--class", "1", "--out", str(out), "--device", "cpu"]) == 2
        assert "no classes" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(MODELS))
def test_edit(pickles: dict[str, Path], tmp_path: Path, name: str, capsys: pytest.CaptureFixture) -> None:
    res = MODELS[name][2]
    drag = f"{res // 4},{res // 2}:{res // 2},{res // 2}"
    assert edit_main(["-c", str(pickles[name]), "--seed", "1", "--drag", drag, "--max-steps", "2", "--out",
                      str(tmp_path / "e"), "--device", "cpu"]) == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "e" / "summary.json").read_text())
    assert summary["steps"] >= 1 and Image.open(tmp_path / "e" / "after.png").size == (res, res)
    assert (tmp_path / "e" / "spec.json").exists() == (name == "eqgan-sa")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_move_object(pickles: dict[str, Path], tmp_path: Path, name: str, capsys: pytest.CaptureFixture) -> None:
    """Objects move on every StyleGAN2-family model (EqGAN-SA's heatmaps too); StyleGAN3 says why not."""
    res = MODELS[name][2]
    move = f"{res // 2},{res // 2}:{res // 2 + res // 4},{res // 2}"
    code = edit_main(["-c", str(pickles[name]), "--seed", "1", "--move-object", move, "--refine", "--max-steps", "2",
                      "--out", str(tmp_path / "m"), "--device", "cpu"])
    err = capsys.readouterr().err
    if name.startswith("sg3"):
        assert code == 2 and "StyleGAN3" in err and "Traceback" not in err
        return
    assert code == 0, err
    before, after = (np.asarray(Image.open(tmp_path / "m" / f)) for f in ("before.png", "after.png"))
    assert before.shape == (res, res, 3) and not np.array_equal(before, after)
    assert np.asarray(Image.open(tmp_path / "m" / "mask.png"))[res // 2, res // 2] == 255


@pytest.mark.parametrize("name", sorted(MODELS))
def test_invert(pickles: dict[str, Path], tmp_path: Path, name: str, capsys: pytest.CaptureFixture) -> None:
    photo = tmp_path / "photo.png"
    Image.fromarray((np.random.default_rng(0).random((40, 48, 3)) * 255).astype(np.uint8)).save(photo)
    assert invert_main([str(photo), "--model", str(pickles[name]), "--out", str(tmp_path / "i"), "--steps", "2",
                        "--no-tune", "--device", "cpu"]) == 0, capsys.readouterr().err
    session = json.loads((tmp_path / "i" / "session.json").read_text())
    assert (session["spec"] is not None) == (name == "eqgan-sa")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_metrics(pickles: dict[str, Path], name: str, capsys: pytest.CaptureFixture) -> None:
    path = str(pickles[name])
    if name != "eqgan-sa":  # the measures of steering need heatmaps: one line, no traceback
        for command in ("comove", "align"):
            assert metrics_main([command, path, "--num", "2", "--device", "cpu", "--no-progress"]) == 2
            last = capsys.readouterr().err.splitlines()[-1]  # after the import's progress lines
            assert last.startswith("error: ") and "heatmaps" in last, last
        return
    assert metrics_main(["comove", path, "--num", "4", "--batch", "4", "--device", "cpu", "--no-progress"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["attempted"] == 4 and result["method"] == "patch"
    assert metrics_main(["align", path, "--num", "4", "--batch", "4", "--device", "cpu", "--no-progress"]) == 0
    levels = json.loads(capsys.readouterr().out)["levels"]
    assert [lv["resolution"] for lv in levels] == [8, 16, 32]
    assert all(0 <= lv["l1_matched"] <= 1 for lv in levels)


def test_fid_of_an_imported_model(pickles: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """FID generates through the same interface: a conditional StyleGAN3 (classes drawn per picture) against
    a few procedural pets. The number itself means nothing at this size; that it is a finite score does."""
    assert metrics_main(["fid", str(pickles["sg3-r"]), "--data", "pets", "--num", "4", "--batch", "4", "--cache",
                         str(tmp_path), "--device", "cpu", "--no-progress"]) == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    assert result["num_fake"] == 4 and np.isfinite(result["fid"]) and result["fid"] > 0
