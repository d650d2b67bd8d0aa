"""Datasets: procedural rooms and pets (determinism, annotations, occlusion), image folders and zips, the CLI."""

from __future__ import annotations

import json
import pickle
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from spatialgan.data import ImageFolderDataset, PetsDataset, RoomsDataset, make_dataset
from spatialgan.data.cli import main as dataset_cli
from spatialgan.errors import SpatialGANError

PROCEDURAL = [RoomsDataset, PetsDataset]


@pytest.mark.parametrize("cls", PROCEDURAL)
def test_deterministic_by_seed_and_index(cls: type) -> None:
    a, b = cls(32, seed=3), cls(32, seed=3)
    assert torch.equal(a[5], b[5])
    assert np.array_equal(a.sample(5).image, b.sample(5).image)
    assert not torch.equal(a[5], a[6])
    assert not torch.equal(a[5], cls(32, seed=4)[5])


@pytest.mark.parametrize("cls", PROCEDURAL)
@pytest.mark.parametrize("res", [32, 64])
def test_item_shape_and_range(cls: type, res: int) -> None:
    ds = cls(res, length=10)
    x = ds[0]
    assert x.shape == (3, res, res) and x.dtype == torch.float32
    assert -1.0 <= float(x.min()) < float(x.max()) <= 1.0
    assert len(ds) == 10
    with pytest.raises(IndexError):
        ds[10]
    # __getitem__ and sample() draw the same picture
    img = ds.sample(0).image
    assert torch.allclose(x, torch.from_numpy(img.copy()).permute(2, 0, 1).float() / 127.5 - 1)


@pytest.mark.parametrize("cls", PROCEDURAL)
def test_annotations_consistent(cls: type) -> None:
    ds = cls(32)
    r = 32
    coord = (np.arange(r) + 0.5) / r
    for i in range(12):
        s = ds.sample(i)
        n = len(s.classes)
        assert n >= 1 and s.masks.shape == (n, r, r) and s.masks.dtype == bool
        assert s.centres.shape == (n, 2) and s.boxes.shape == (n, 4)
        assert set(s.classes) <= set(cls.CLASSES)
        assert s.masks.sum(0).max() <= 1  # visible parts are disjoint
        for m, c, b in zip(s.masks, s.centres, s.boxes):
            ys, xs = np.nonzero(m)
            assert len(xs) > 0
            assert np.allclose(c, [coord[xs].mean(), coord[ys].mean()], atol=1e-5)
            assert b[0] <= c[0] <= b[2] and b[1] <= c[1] <= b[3]
            assert 0 <= b[0] < b[2] <= 1 and 0 <= b[1] < b[3] <= 1


def test_pets_have_one_animal() -> None:
    ds = PetsDataset(32)
    assert all(len(ds.sample(i).classes) == 1 for i in range(20))


def test_rooms_show_occlusion_and_several_objects() -> None:
    ds = RoomsDataset(32)
    samples = [ds.sample(i) for i in range(50)]
    assert max(len(s.classes) for s in samples) >= 3
    occluded = [bool((s.masks.sum((1, 2)) < s.full_areas).any()) for s in samples]
    assert any(occluded)
    assert all((s.masks.sum((1, 2)) <= s.full_areas).all() for s in samples)


def test_make_dataset(tmp_path: Path) -> None:
    assert isinstance(make_dataset("rooms", 32), RoomsDataset)
    assert isinstance(make_dataset("pets", 32, seed=2), PetsDataset)
    with pytest.raises(SpatialGANError, match="does not exist"):
        make_dataset(str(tmp_path / "nope"), 32)


@pytest.mark.parametrize("out_name", ["folder", "images.zip"])
def test_export_then_read_back(tmp_path: Path, out_name: str) -> None:
    out = tmp_path / out_name
    assert dataset_cli(["export", "rooms", "--count", "8", "--out", str(out), "--resolution", "32"]) == 0
    if out_name.endswith(".zip"):
        with zipfile.ZipFile(out) as zf:
            lines = zf.read("annotations.jsonl").decode().splitlines()
            mask = np.asarray(Image.open(zf.open("masks/mask00000003.png")))
    else:
        lines = (out / "annotations.jsonl").read_text().splitlines()
        mask = np.asarray(Image.open(out / "masks" / "mask00000003.png"))
    rows = [json.loads(line) for line in lines]
    assert [r["file"] for r in rows] == [f"img{i:08d}.png" for i in range(8)]
    expected = RoomsDataset(32).sample(3)
    assert rows[3]["classes"] == expected.classes
    assert np.allclose(rows[3]["centres"], expected.centres, atol=1e-5)
    assert mask.max() == len(expected.classes)
    assert np.array_equal(mask == 1, expected.masks[0])

    ds = ImageFolderDataset(out, 32)  # the label masks of an export are not training images
    assert len(ds) == 8 and ds[0].shape == (3, 32, 32)
    assert torch.allclose(ds[ds.files.index("img00000003.png")], RoomsDataset(32)[3], atol=1e-6)


def _write(path: Path, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(SpatialGANError, match="does not exist"):
        ImageFolderDataset(tmp_path / "missing", 32)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not an image")
    with pytest.raises(SpatialGANError, match="no images found"):
        ImageFolderDataset(tmp_path / "empty", 32)
    junk = tmp_path / "junk"
    junk.mkdir()
    for i in range(3):
        (junk / f"{i}.png").write_bytes(b"definitely not a png")
    with pytest.raises(SpatialGANError, match="none of the 3 images"):
        ImageFolderDataset(junk, 32)


def test_folder_skips_with_one_warning(tmp_path: Path) -> None:
    root = tmp_path / "mix"
    _write(root / "a.jpg", (40, 60))          # portrait: centre-cropped
    _write(root / "sub" / "b.png", (64, 48))  # found recursively
    _write(root / "c.webp", (16, 16))         # short side exactly 32 / 2: kept
    _write(root / "d.bmp", (15, 40))          # tiny
    _write(root / "e.png", (10, 10))          # tiny
    (root / "f.jpeg").write_bytes(b"junk")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = ImageFolderDataset(root, 32)
    assert len(caught) == 1 and "skipped 3 of 6" in str(caught[0].message)
    assert dict(ds.skipped) == {"too small": 2, "unreadable": 1}
    assert sorted(ds.files) == ["a.jpg", "c.webp", "sub/b.png"]
    assert all(ds[i].shape == (3, 32, 32) for i in range(len(ds)))
    assert -1 <= float(ds[0].min()) and float(ds[0].max()) <= 1


def test_dataloader_workers(tmp_path: Path) -> None:
    rooms = RoomsDataset(32, length=8)
    batch = next(iter(DataLoader(rooms, batch_size=4, num_workers=2)))
    assert batch.shape == (4, 3, 32, 32) and torch.equal(batch[1], rooms[1])

    out = tmp_path / "pets.zip"
    assert dataset_cli(["export", "pets", "--count", "4", "--out", str(out), "--resolution", "32"]) == 0
    folder = ImageFolderDataset(out, 32)
    folder[0]  # opens the zip in this process; pickling must still work
    pickle.dumps(folder)
    batches = list(DataLoader(folder, batch_size=4, num_workers=2))
    assert sum(len(b) for b in batches) == 4 and batches[0].shape[1:] == (3, 32, 32)  # masks are not images


def test_cli_bad_input_returns_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert dataset_cli(["export", "rooms", "--count", "0", "--out", str(tmp_path / "x")]) == 2
    assert dataset_cli(["preview", "pets", "--resolution", "48", "--out", str(tmp_path / "p.png")]) == 2
    assert "error:" in capsys.readouterr().err
    assert dataset_cli(["preview", "pets", "--count", "4", "--resolution", "32", "--out", str(tmp_path / "p.png")]) == 0
    assert Image.open(tmp_path / "p.png").size[0] > 64


def test_missing_sprites_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPATIALGAN_SPRITES", str(tmp_path / "nowhere"))
    with pytest.raises(SpatialGANError, match="sprite folder"):
        RoomsDataset(32)
