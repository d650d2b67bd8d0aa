"""Tiny seeded models for CPU tests (diffusers-style: small random networks, a few checked numbers)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import torch

from spatialgan import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig, HeatmapConfig

# (encoding, heatmap mode) pairs the model supports.
VARIANTS = [
    ("none", "hierarchical"),
    ("sel_norm", "hierarchical"),
    ("sel_norm", "multi"),
    ("sel_concat", "hierarchical"),
    ("sel_indoor", "multi"),
]


def tiny_configs(encoding: str = "sel_norm", mode: str = "hierarchical", resolution: int = 32,
                 ) -> tuple[GeneratorConfig, DiscriminatorConfig]:
    g = GeneratorConfig(resolution=resolution, z_dim=32, w_dim=32, mapping_layers=2, channel_base=512,
                        channel_max=32, encoding=encoding, heatmap=HeatmapConfig(mode=mode), sel_hidden=16,
                        heatmap_features=8)
    d = DiscriminatorConfig(resolution=resolution, channel_base=512, channel_max=32)
    return g, d


def tiny_models(encoding: str = "sel_norm", mode: str = "hierarchical", resolution: int = 32, seed: int = 0,
                ) -> tuple[Generator, Discriminator]:
    g, d = tiny_configs(encoding, mode, resolution)
    torch.manual_seed(seed)
    return Generator(g).eval(), Discriminator(d)


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(1234)


def load_script(relative: str) -> ModuleType:
    """A script of the repository that is not a package module (tools/, bench/), imported from its path."""
    path = Path(__file__).resolve().parents[1] / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
