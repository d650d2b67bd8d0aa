"""Command-line entry points: they produce files, and bad input gives one clear line and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import tiny_models
from spatialgan import HeatmapSpec, sample_heatmaps, save_checkpoint
from spatialgan.cli.info import main as info_main
from spatialgan.cli.sample import main as sample_main, parse_seeds


@pytest.fixture()
def ckpt(tmp_path: Path) -> Path:
    G, _ = tiny_models("sel_indoor", "multi")
    return save_checkpoint(tmp_path / "tiny.safetensors", G, meta={"dataset": "rooms"})


def test_parse_seeds() -> None:
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]


def test_sample_writes_a_grid(ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "grid.png"
    assert sample_main(["-c", str(ckpt), "--seeds", "0-2", "--scale", "1", "-o", str(out)]) == 0
    img = np.asarray(Image.open(out))
    # 3 rows x (image + the model's one objects panel, as the editor shows it), each 32 px with 2 px gaps.
    assert img.shape == (3 * 34 + 2, 2 * 34 + 2, 3)
    assert img[2:34, 2:34].std() > 1, "the image tile is not blank"


def test_sample_with_a_given_heatmap_spec(ckpt: Path, tmp_path: Path) -> None:
    spec = HeatmapSpec.from_batch(sample_heatmaps(tiny_models("sel_indoor", "multi")[0].config.heatmap, 1, seed=4))
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(spec.to_json())
    out = tmp_path / "g.png"
    assert sample_main(["-c", str(ckpt), "--seeds", "1", "--heatmap", str(spec_file), "-o", str(out)]) == 0
    assert out.exists()


@pytest.mark.parametrize("args,fragment", [
    (["--seeds", "a-b"], "--seeds expects"),
    (["--untrained", "48:sel_norm"], "resolution must be a power of two"),
    (["--checkpoint", "/nonexistent/model.safetensors"], "no checkpoint at"),
    (["--device", "tpu"], "unknown device"),
])
def test_sample_bad_input(args: list[str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert sample_main([*args, "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and fragment in err and "Traceback" not in err


def test_sample_bad_heatmap_file(ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"mode": "multi", "levels": [[{"x": 0.5, "y": 0.5, "sigma": -1}]]}))
    assert sample_main(["-c", str(ckpt), "--heatmap", str(bad), "-o", str(tmp_path / "x.png")]) == 2
    assert "levels[0][0].sigma" in capsys.readouterr().err


def test_info(ckpt: Path, capsys: pytest.CaptureFixture) -> None:
    assert info_main([str(ckpt), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["generator"]["encoding"] == "sel_indoor" and data["meta"] == {"dataset": "rooms"}
    assert info_main([str(ckpt.with_suffix(".missing"))]) == 2
