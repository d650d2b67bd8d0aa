"""The model interface (`spatialgan.model`): our generator describes itself by capabilities, and nothing in the
editor asks for more than that."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from spatialgan.errors import HeatmapSpecError
from spatialgan.model import SteerableModel

from conftest import tiny_models

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("encoding,mode,layout,panels,restylable,background", [
    ("none", "hierarchical", None, [], (), None),
    ("sel_norm", "hierarchical", "hierarchical", [(0, 4, 1), (1, 8, 2), (2, 16, 4)], (), None),
    ("sel_norm", "multi", "objects", [(None, 16, 3)], (), None),
    ("sel_indoor", "multi", "objects", [(None, 32, 3)], (0, 1, 2), 3),
])
def test_generator_capabilities(encoding, mode, layout, panels, restylable, background) -> None:
    G, _ = tiny_models(encoding, mode)
    assert isinstance(G, SteerableModel)
    caps = G.capabilities
    assert caps.layout == layout and caps.has_heatmaps == (layout is not None)
    assert [(p.level, p.resolution, p.centres) for p in caps.panels] == panels
    assert caps.restylable == restylable and caps.background_code == background
    assert caps.num_codes == G.config.num_codes and caps.num_ws == G.config.num_ws
    assert caps.tap_blocks == (4, 8, 16, 32) and caps.default_tap == 16 and caps.draft_resolutions == ()
    assert caps.class_labels == ()
    spec = G.default_layout(3)
    assert (spec is None) == (layout is None)
    if spec is not None:
        G.check_layout(spec)
        assert [len(level) for level in spec.levels] == [p.centres for p in caps.panels]
        spec.mode = "multi" if spec.mode == "hierarchical" else "hierarchical"
        with pytest.raises(HeatmapSpecError):
            G.check_layout(spec)


def test_restyle_changes_one_code() -> None:
    G, _ = tiny_models("sel_indoor", "multi")
    ws = G.mapping(G.sample_z(1, seed=0))
    new = G.restyle(ws, 1, seed=5)
    changed = [not torch.equal(new[:, k], ws[:, k]) for k in range(ws.shape[1])]
    assert changed == [False, True, False, False]


def test_a_large_model_offers_drafts() -> None:
    G, _ = tiny_models("sel_norm", "hierarchical", resolution=128)
    assert G.capabilities.draft_resolutions == (64, 32)


def test_the_editor_never_names_an_architecture() -> None:
    """The GUI asks the model's capabilities, never its encoding or config: a new architecture needs no GUI
    change."""
    words = re.compile(r"sel_indoor|sel_norm|sel_concat|\bencoding\b|heatmap_mode|\w\.config\b")
    found = [f"{p.relative_to(ROOT)}:{i + 1}: {line.strip()}" for p in sorted((ROOT / "app").rglob("*.py"))
             for i, line in enumerate(p.read_text().splitlines())
             if words.search(line) and not line.strip().startswith("#")]
    assert all("untrained" in f for f in found), found  # only the untrained fallback's preset name
