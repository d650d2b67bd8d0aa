"""Objects found in a model's own features: clustering, selection by click, the feature move, its refine, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import tiny_models
from draggan.cli import main as edit_main
from draggan.objects import object_edit, picture_selection, refine_session
from spatialgan.errors import SpatialGANError
from spatialgan.objects import (ObjectEdit, Selection, apply_edits, cached_clusters, edit_block, fill_from_surroundings,
                                fit_clusters, flexible_area, region_handles)
from spatialgan.objects.clusters import spherical_kmeans
from spatialgan.render import render


@pytest.fixture()
def plain():
    return tiny_models("none")[0]


def test_spherical_kmeans_finds_planted_directions() -> None:
    gen = torch.Generator().manual_seed(0)
    axes = torch.eye(8)[:3]
    x = axes.repeat_interleave(50, 0) + 0.05 * torch.randn(150, 8, generator=gen)
    x = x / x.norm(dim=1, keepdim=True)
    c = spherical_kmeans(x, 3, torch.Generator().manual_seed(1))
    assert sorted(int(i) for i in (c @ axes.t()).argmax(1)) == [0, 1, 2]
    assert float((c @ axes.t()).max(1).values.min()) > 0.99


def test_clusters_are_deterministic_for_a_seed_and_cached(plain, tmp_path) -> None:
    a = fit_clusters(plain, k=5, samples=6, seed=3)
    b = fit_clusters(plain, k=5, samples=6, seed=3)
    assert torch.equal(a.centroids, b.centroids) and torch.equal(a.background, b.background)
    feat = render(plain, plain.seed_ws(0), taps=[16]).features[16]
    assert a.block == 16 and a.centroids.shape == (5, feat.shape[1])
    assert not torch.equal(fit_clusters(plain, k=5, samples=6, seed=4).centroids, a.centroids)
    first, fitted = cached_clusters(plain, tmp_path, k=5, samples=6)
    again, fitted_again = cached_clusters(plain, tmp_path, k=5, samples=6)
    assert fitted and not fitted_again and torch.equal(first.centroids, again.centroids)
    assert len(list((tmp_path / "objects").iterdir())) == 1
    other = tiny_models("none", seed=1)[0]  # other weights, other clusters
    assert cached_clusters(other, tmp_path, k=5, samples=6)[1]
    damaged = next((tmp_path / "objects").iterdir())
    damaged.write_bytes(b"not safetensors")
    assert cached_clusters(plain, tmp_path, k=5, samples=6)[1] or cached_clusters(other, tmp_path, k=5, samples=6)[1]


def test_a_click_selects_the_region_under_it_and_clicks_grow_and_shrink_it() -> None:
    labels = np.array([[0, 0, 0, 0],
                       [0, 1, 2, 0],
                       [0, 1, 2, 0],
                       [0, 0, 0, 3]])
    background = np.array([True, False, False, False])
    sel = Selection.empty(labels, background)
    on_object = sel.click(0.3, 0.3)  # cluster 1: the object is clusters 1 and 2 together (not background)
    assert on_object.mask.tolist() == ((labels == 1) | (labels == 2)).tolist()
    assert on_object.contains(0.3, 0.3) and not on_object.contains(0.9, 0.9)
    shrunk = on_object.click(0.6, 0.3)  # inside: takes cluster 2's region away
    assert shrunk.mask.tolist() == (labels == 1).tolist()
    grown = shrunk.click(0.9, 0.9)  # outside: adds cluster 3's region (not connected to the rest)
    assert grown.mask.tolist() == ((labels == 1) | (labels == 3)).tolist()
    on_background = sel.click(0.1, 0.1)
    assert on_background.mask.tolist() == (labels == 0).tolist()
    assert on_object.on_object and grown.on_object and not on_background.on_object
    assert on_background.outline(8).sum() > 0 and on_background.at(8).shape == (8, 8)
    with pytest.raises(SpatialGANError, match="outside the picture"):
        sel.click(1.5, 0.2)


def test_a_click_on_a_model_picture_selects_a_region_containing_it(plain) -> None:
    clusters = fit_clusters(plain, k=4, samples=4)
    ws = plain.seed_ws(0, 0.7)
    for x, y in [(0.2, 0.3), (0.5, 0.5), (0.9, 0.1)]:
        sel = picture_selection(plain, clusters, ws, None).object_at(x, y)
        assert sel.contains(x, y) and sel.at(32)[int(y * 32), int(x * 32)]


def test_fill_takes_the_surroundings_value() -> None:
    x = torch.full((1, 2, 16, 16), 0.5)
    x[..., 4:9, 5:11] = 7.0
    known = torch.ones(1, 1, 16, 16)
    known[..., 4:9, 5:11] = 0
    filled = fill_from_surroundings(x, known)
    assert torch.allclose(filled, torch.full_like(x, 0.5), atol=1e-5)


def test_a_move_translates_the_region_and_fills_its_old_place() -> None:
    x = torch.zeros(1, 3, 16, 16)
    blob = torch.randn(3, 4, 4)
    x[0, :, 2:6, 3:7] = blob
    mask = torch.zeros(16, 16)
    mask[2:6, 3:7] = 1
    out = apply_edits(x, [ObjectEdit(mask, (5 / 16, 8 / 16))])  # 5 cells right, 8 down
    assert torch.allclose(out[0, :, 10:14, 8:12], blob, atol=1e-5)
    assert float(out[0, :, 2:6, 3:7].abs().max()) < 1e-5  # filled from the zeros around it
    removed = apply_edits(x, [ObjectEdit(mask, None)])
    assert float(removed.abs().max()) < 1e-5
    # a mask given on a finer grid (the clusters' map) is averaged down to the block
    fine = torch.nn.functional.interpolate(mask[None, None], scale_factor=2, mode="nearest")[0, 0]
    assert torch.allclose(apply_edits(x, [ObjectEdit(fine, (5 / 16, 8 / 16))]), out, atol=1e-5)


def test_a_move_takes_the_cells_just_outside_the_selection_along() -> None:
    """The finer blocks draw an object's edge from the cells around it too: a selection one cell short of the
    object (as clusters' outlines often are) still moves all of it and leaves nothing of it behind."""
    x = torch.zeros(1, 3, 16, 16)
    blob = torch.randn(3, 4, 5) + 3
    x[0, :, 2:6, 3:8] = blob
    mask = torch.zeros(16, 16)
    mask[2:6, 3:7] = 1  # the object's last column is not selected
    out = apply_edits(x, [ObjectEdit(mask, (6 / 16, 8 / 16))])
    assert torch.allclose(out[0, :, 10:14, 9:14], blob, atol=1e-5)
    assert float(out[0, :, 2:6, 3:8].abs().max()) < 1e-5


def test_render_edits_the_features_after_the_edit_block(plain) -> None:
    ws = plain.seed_ws(1, 0.7)
    block = edit_block(plain)
    mask = torch.zeros(16, 16)
    mask[4:9, 4:10] = 1
    edit = ObjectEdit(mask, (0.25, 0.125))
    before = render(plain, ws, taps=[block])
    after = render(plain, ws, taps=[block], edits=[edit])
    assert torch.allclose(after.features[block], apply_edits(before.features[block], [edit]), atol=1e-5)
    assert not torch.allclose(after.image, before.image)
    assert torch.equal(render(plain, ws, edits=[]).image, before.image)


def test_region_handles_lie_in_the_region_and_the_flexible_area_covers_the_path() -> None:
    mask = np.zeros((8, 8), bool)
    mask[2:5, 1:4] = True
    pts = region_handles(mask, 32, 4)
    assert len(pts) == 4 and len(set(pts)) == 4
    assert all(mask[int((y + 0.5) / 4), int((x + 0.5) / 4)] for x, y in pts)
    area = flexible_area(ObjectEdit.from_selection(mask, (0.5, 0.0)), 32)
    assert area[12, 6] == 1 and area[12, 6 + 16] == 1 and area[30, 30] == 0
    with pytest.raises(SpatialGANError, match="empty"):
        region_handles(np.zeros((4, 4), bool), 32)


def test_the_flexible_area_holds_the_cuts_footprint_at_the_edit_block() -> None:
    # A selection on a 32-cell map moved in a 64 px picture: the cut takes one 16 px block cell (4 px) around it and
    # the area one cell more, so the refine may change pixels up to 8 px from the outline, at both places (the old
    # area, one map pixel around the selection, reached 2 px); DragGAN's mask term holds the rest.
    mask = np.zeros((32, 32), np.float32)
    mask[12:20, 4:12] = 1  # pixels 24..39 down, 8..23 across
    area = flexible_area(ObjectEdit.from_selection(mask, (0.5, 0.0)), 64, block=16)
    for x in (8 - 6, 23 + 6, 8 + 32 - 6, 23 + 32 + 6):  # 6 px outside the outline, before and after the move
        assert area[31, x] == 1
    assert area[24 - 6, 16] == 1 and area[39 + 6, 48] == 1
    assert area[24 - 14, 16] == 0 and area[39 + 14, 48] == 0


def test_the_refine_starts_from_the_moved_picture_and_keeps_the_move(plain) -> None:
    clusters = fit_clusters(plain, k=4, samples=4)
    ws = plain.seed_ws(2, 0.7)
    sel = picture_selection(plain, clusters, ws, None).object_at(0.4, 0.4)
    edit = object_edit(sel, (12.0, 12.0), (18.0, 12.0), 32)
    from draggan import DragConfig

    session = refine_session(plain, ws, None, edit, DragConfig(mode="draggan", max_steps=2))
    assert session.edits == [edit]
    result = session.run()
    assert result.step <= 2 and len(result.points) >= 1
    assert torch.allclose(session.image0, render(plain, ws).image, atol=1e-5)  # "before" has no move
    moved = render(plain, session.ws(), edits=[edit]).image
    assert torch.allclose(session.render(), moved, atol=1e-4)
    steered = tiny_models("sel_norm")[0]
    with pytest.raises(SpatialGANError, match="coarse move itself"):
        refine_session(steered, steered.seed_ws(2), steered.default_layout(2), edit, DragConfig(mode="hybrid"))


def test_stylegan3_layers_say_why_objects_cannot_move() -> None:
    class SG3Like:
        class synthesis:
            block_resolutions = [1, 2, 3]

        class capabilities:
            resolution = 64
            default_tap = 2

    with pytest.raises(SpatialGANError, match="StyleGAN3"):
        edit_block(SG3Like())  # type: ignore[arg-type]


def test_move_object_cli_writes_its_files(tmp_path, capsys, monkeypatch) -> None:
    from spatialgan import save_checkpoint

    monkeypatch.setenv("SPATIALGAN_CACHE", str(tmp_path / "cache"))
    ck = str(save_checkpoint(tmp_path / "plain.safetensors", tiny_models("none")[0]))
    out = tmp_path / "moved"
    assert edit_main(["-c", ck, "--seed", "2", "--move-object", "12,12:20,14", "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"before.png", "after.png", "mask.png", "ws.safetensors",
                                               "summary.json"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["region_px"] > 0 and not summary["refine"] and isinstance(summary["on_object"], bool)
    said = capsys.readouterr().out
    assert ("object by" in said) == summary["on_object"] and ("no object near" in said) != summary["on_object"]
    from PIL import Image

    mask = np.array(Image.open(out / "mask.png"))
    assert mask.shape == (32, 32) and mask[12, 12] == 255
    assert not np.array_equal(np.array(Image.open(out / "before.png")), np.array(Image.open(out / "after.png")))
    assert len(list((tmp_path / "cache" / "objects").iterdir())) == 1
    refined = tmp_path / "refined"
    assert edit_main(["-c", ck, "--seed", "2", "--move-object", "12,12:20,14", "--refine", "--max-steps", "2",
                      "--out", str(refined)]) == 0
    assert json.loads((refined / "summary.json").read_text())["refine"]
    gone = tmp_path / "gone"
    assert edit_main(["-c", ck, "--seed", "2", "--remove-object", "12,12", "--out", str(gone)]) == 0
    summary = json.loads((gone / "summary.json").read_text())
    assert summary["removed"] and summary["moved_to"] is None and summary["region_px"] > 0
    assert np.array_equal(np.array(Image.open(gone / "before.png")), np.array(Image.open(out / "before.png")))
    removed = np.array(Image.open(gone / "after.png")).astype(int) - np.array(Image.open(gone / "before.png"))
    inside = np.array(Image.open(gone / "mask.png")) > 0
    assert np.abs(removed)[inside].mean() > np.abs(removed)[~inside].mean()  # the region changes most
    capsys.readouterr()
    for argv, fragment in [(["--move-object", "12,12:40,14"], "outside the 32x32 picture"),
                           (["--move-object", "12,12"], "--move-object expects"),
                           (["--move-object", "12,12:20,14", "--drag", "1,1:2,2"], "only one of --drag, --move-object"),
                           (["--refine", "--drag", "1,1:2,2"], "--refine refines an object move"),
                           (["--move-object", "12,12:20,14", "--video", str(tmp_path / "v.mp4")], "--video records"),
                           (["--remove-object", "12"], "--remove-object expects X,Y"),
                           (["--remove-object", "12,40"], "outside the 32x32 picture"),
                           (["--remove-object", "12,12", "--move-object", "12,12:20,14"], "only one of --move-object, --remove-object"),
                           (["--remove-object", "12,12", "--refine"], "--refine refines an object move"),
                           (["--move-object", "", "--video", str(tmp_path / "v.mp4")], "--move-object expects")]:
        assert edit_main(["-c", ck] + argv + ["--out", str(tmp_path / "never")]) == 2
        err = capsys.readouterr().err
        assert fragment in err and "Traceback" not in err, (argv, err)
    assert not (tmp_path / "never").exists()
