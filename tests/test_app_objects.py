"""The editor's object tool without a display: select on the picture's cluster map, move (one undo step per
gesture), remove, refine the move, and keep it all in a session. Tiny random models, the real worker thread."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from app.controller import Controller
from app.messages import ObjectMap
from app.model_jobs import Refine
from app.objects import shifted_mask
from app.presenter import Presenter
from app.state import SessionError
from app.worker import Worker

from conftest import tiny_models


@pytest.fixture()
def editor(tmp_path, monkeypatch):
    monkeypatch.setenv("SPATIALGAN_CACHE", str(tmp_path / "cache"))
    worker = Worker(tiny_models("none")[0], torch.device("cpu"), "tiny plain")
    c = Controller.for_worker(worker, 3, 0.7, "tiny.safetensors")
    c.autosave_path = None  # type: ignore[assignment]
    yield Presenter(c, worker)
    worker.close()


def wait(p: Presenter, done, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        p.tick()
        if done():
            return
        time.sleep(0.005)
    raise AssertionError("the presenter never got there")


def test_shifted_mask_moves_by_cells_and_drops_what_leaves() -> None:
    m = np.zeros((8, 8), bool)
    m[1:3, 6:8] = True
    out = shifted_mask(m, 1 / 8, 2 / 8)
    assert out.sum() == 2 and out[3:5, 7].all()
    assert shifted_mask(m, -6 / 8, 0).tolist() == np.roll(m, -6, 1).tolist()


def test_select_move_remove_undo_and_session(editor, tmp_path) -> None:
    p, c = editor, editor.c
    assert p.info.objects
    p.show_objects(True)
    wait(p, lambda: p.objects_shown is not None)
    found = p.objects_shown
    assert isinstance(found, ObjectMap) and found.labels.shape == (16, 16)
    assert (tmp_path / "cache" / "objects").is_dir()  # the clusters were fitted once and kept
    assert c.select_object(0.5, 0.5, found) and c.selection_contains(0.5, 0.5)
    before = p.image.copy()
    region = c.state.selection.copy()
    gesture = c.new_gesture()
    for d in (0.05, 0.1, 0.2):  # one drag: one undo step, one move that follows the mouse
        c.move_object(d, 0.0, gesture)
    assert len(c.state.edit.objects) == 1 and c.state.edit.objects[0].shift == (0.2, 0.0)
    assert np.array_equal(c.state.edit.objects[0].mask, region)
    assert np.array_equal(c.state.selection, shifted_mask(region, 0.2, 0.0))  # the outline follows the object
    wait(p, lambda: p.shown == c.state.generation and p.objects_shown is not None)
    assert not np.array_equal(p.image, before)
    saved = c.save_session(tmp_path / "s.json")
    data = json.loads(saved.read_text())
    assert data["objects"][0]["shift"] == [0.2, 0.0]
    c.remove_object()
    assert c.state.edit.objects[-1].shift is None and c.state.selection is None
    c.undo()
    assert len(c.state.edit.objects) == 1
    c.undo()
    assert c.state.edit.objects == []
    c.load_session(saved)
    assert len(c.state.edit.objects) == 1 and np.array_equal(c.state.edit.objects[0].mask, region)
    wait(p, lambda: p.shown == c.state.generation)
    c.set_seed(4)
    assert c.state.edit.objects == [] and c.state.selection is None
    with pytest.raises(SessionError, match="select an object first"):
        c.remove_object()


def test_the_editor_knows_a_background_selection_from_an_object(editor) -> None:
    c = editor.c
    labels = np.zeros((16, 16), np.int64)
    labels[6:10, 6:10] = 1  # one object in the middle, background around it
    found = ObjectMap(labels, np.array([True, False]))
    assert c.select_object(0.5, 0.5, found) and c.selection_on_object(found)
    assert c.select_object(0.02, 0.02, found) and not c.selection_on_object(found)  # far from the object
    assert c.state.selection.sum() == 16 * 16 - 16
    assert c.select_object(0.34, 0.5, found) and c.selection_on_object(found)  # one cell away: the object
    c.clear_selection()
    assert not c.selection_on_object(found)


def test_a_session_with_bad_objects_is_refused(editor, tmp_path) -> None:
    c = editor.c
    good = json.loads(c.save_session(tmp_path / "s.json").read_text())
    for objects, fragment in [("x", "must be a list"), ([{"mask": 1}], "exactly 'mask' and 'shift'"),
                              ([{"mask": {"shape": [64, 64], "runs": [4096]}, "shift": None}], "at most 32 px"),
                              ([{"mask": {"shape": [4, 4], "runs": [15]}, "shift": None}], "summing to 16"),
                              ([{"mask": {"shape": [4, 4], "runs": [16]}, "shift": [0.1, "a"]}], "shift must be")]:
        (tmp_path / "bad.json").write_text(json.dumps({**good, "objects": objects}))
        with pytest.raises(SessionError, match=fragment):
            c.load_session(tmp_path / "bad.json")


def test_the_last_object_move_refines_with_the_move_in_place(editor) -> None:
    p, c = editor, editor.c
    p.show_objects(True)
    wait(p, lambda: p.objects_shown is not None)
    c.select_object(0.5, 0.5, p.objects_shown)
    c.move_object(0.15, 0.05, c.new_gesture())
    c.set_refine(max_steps=2)
    generation, start = c.object_refine_input()
    assert start.object_move is c.state.edit.objects[-1] and start.objects == ()
    assert p.start(Refine(generation, start, c.state.refine))
    wait(p, lambda: p.job is None)
    assert c.state.edit.ws_override is not None and len(c.state.edit.objects) == 1  # the move stays in place
    c.remove_object() if c.state.selection is not None else None
    with pytest.raises(SessionError, match="move an object first"):
        c.object_refine_input()
