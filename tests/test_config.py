"""Tests for spatialgan.config: validation, (de)serialisation and presets."""

from __future__ import annotations

import json

import pytest

from spatialgan.config import (ENCODINGS, DiscriminatorConfig, GeneratorConfig, HeatmapConfig, preset)
from spatialgan.errors import ConfigError, SpatialGANError


def test_config_error_is_value_error():
    assert issubclass(ConfigError, ValueError)
    assert issubclass(ConfigError, SpatialGANError)


def test_encodings_are_the_four_planned():
    assert set(ENCODINGS) == {"none", "sel_norm", "sel_concat", "sel_indoor"}


GEN_CONFIGS = [
    GeneratorConfig(),
    GeneratorConfig(resolution=64, z_dim=128, w_dim=96, encoding="sel_concat",
                    heatmap=HeatmapConfig(levels=(4, 8), centres_per_level=(1, 3))),
    GeneratorConfig(resolution=128, encoding="sel_indoor", heatmap=HeatmapConfig(mode="multi", num_objects=5)),
    GeneratorConfig(resolution=32, encoding="none", w_avg_beta=0.99),
]


@pytest.mark.parametrize("cfg", GEN_CONFIGS)
def test_generator_round_trip(cfg):
    d = cfg.to_dict()
    assert isinstance(d["heatmap"], dict)
    assert GeneratorConfig.from_dict(d) == cfg
    # through real JSON (tuples become lists)
    assert GeneratorConfig.from_dict(json.loads(json.dumps(d))) == cfg
    back = GeneratorConfig.from_dict(json.loads(json.dumps(d)))
    assert isinstance(back.heatmap, HeatmapConfig)
    assert isinstance(back.heatmap.levels, tuple) and isinstance(back.heatmap.centres_per_level, tuple)
    assert hash(back) == hash(cfg)  # frozen and hashable after a JSON trip


@pytest.mark.parametrize("cfg", [DiscriminatorConfig(), DiscriminatorConfig(resolution=64, channel_base=4096,
                                                                             channel_max=128, mbstd_group=2)])
def test_discriminator_round_trip(cfg):
    assert DiscriminatorConfig.from_dict(cfg.to_dict()) == cfg
    assert DiscriminatorConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_generator_from_dict_partial_uses_defaults():
    g = GeneratorConfig.from_dict({"resolution": 64})
    assert g == GeneratorConfig(resolution=64)


def test_generator_unknown_field_raises():
    d = GeneratorConfig().to_dict()
    d["bogus_width"] = 3
    with pytest.raises(ConfigError, match="bogus_width"):
        GeneratorConfig.from_dict(d)


def test_heatmap_unknown_field_raises():
    d = GeneratorConfig().to_dict()
    d["heatmap"]["sigma_scale"] = 2
    with pytest.raises(ConfigError) as info:
        GeneratorConfig.from_dict(d)
    assert "sigma_scale" in str(info.value) and "heatmap" in str(info.value)


def test_discriminator_unknown_field_raises():
    d = DiscriminatorConfig().to_dict()
    d["dropout"] = 0.1
    with pytest.raises(ConfigError, match="dropout"):
        DiscriminatorConfig.from_dict(d)


def test_from_dict_non_mapping_raises():
    with pytest.raises(ConfigError):
        GeneratorConfig.from_dict({"heatmap": [4, 8]})
    with pytest.raises(ConfigError):
        DiscriminatorConfig.from_dict([256])  # type: ignore[arg-type]


@pytest.mark.parametrize("res", [48, 16, 2048, 0, -64])
def test_bad_resolution_raises(res):
    with pytest.raises(ConfigError, match="resolution"):
        GeneratorConfig(resolution=res)
    with pytest.raises(ConfigError, match="resolution"):
        DiscriminatorConfig(resolution=res)
    with pytest.raises(ConfigError, match="resolution"):
        GeneratorConfig.from_dict({"resolution": res})


@pytest.mark.parametrize("res", [32, 64, 128, 256, 512, 1024])
def test_good_resolutions(res):
    assert GeneratorConfig(resolution=res).resolution == res
    assert DiscriminatorConfig(resolution=res).resolution == res


def test_sel_indoor_needs_multi_mode():
    with pytest.raises(ConfigError, match="sel_indoor"):
        GeneratorConfig(encoding="sel_indoor", heatmap=HeatmapConfig(mode="hierarchical"))
    GeneratorConfig(encoding="sel_indoor", heatmap=HeatmapConfig(mode="multi"))  # fine


def test_unknown_encoding_and_mode_raise():
    with pytest.raises(ConfigError, match="encoding"):
        GeneratorConfig(encoding="sel_magic")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="heatmap.mode"):
        GeneratorConfig(heatmap=HeatmapConfig(mode="grid"))  # type: ignore[arg-type]


@pytest.mark.parametrize("heatmap,field", [
    (HeatmapConfig(levels=(4, 8, 16), centres_per_level=(1, 2)), "centres_per_level"),
    (HeatmapConfig(levels=(4, 8, 128)), "levels"),  # beyond the 64 px resolution
    (HeatmapConfig(levels=(4, 12, 16)), "levels"),  # not a power of two
    (HeatmapConfig(levels=(8, 4, 16)), "levels"),  # not increasing
    (HeatmapConfig(levels=()), "levels"),
    (HeatmapConfig(centres_per_level=(1, 0, 4)), "centres_per_level"),
    (HeatmapConfig(mode="multi", num_objects=0), "num_objects"),
])
def test_bad_heatmap_config_raises(heatmap, field):
    with pytest.raises(ConfigError, match=field):
        GeneratorConfig(resolution=64, encoding="sel_norm", heatmap=heatmap)


def test_heatmap_config_ignored_without_encoding():
    # encoding 'none' takes no heatmap, so its heatmap settings are not checked
    GeneratorConfig(resolution=64, encoding="none", heatmap=HeatmapConfig(levels=(4, 8, 128)))


@pytest.mark.parametrize("name", ["z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max",
                                  "img_channels", "sel_hidden", "heatmap_features"])
def test_non_positive_sizes_raise(name):
    with pytest.raises(ConfigError, match=name):
        GeneratorConfig(**{name: 0})


def test_discriminator_non_positive_raises():
    with pytest.raises(ConfigError, match="mbstd_group"):
        DiscriminatorConfig(mbstd_group=0)


@pytest.mark.parametrize("res,num_ws", [(32, 8), (64, 10), (128, 12), (256, 14), (1024, 18)])
def test_num_ws(res, num_ws):
    g = GeneratorConfig(resolution=res)
    assert g.num_ws == num_ws
    # two per block minus one for the 4x4 block, plus the final toRGB
    assert g.num_ws == 2 * len(g.block_resolutions) - 1 + 1


def test_block_resolutions_and_channels():
    g = GeneratorConfig(resolution=64, channel_base=8192, channel_max=256)
    assert g.block_resolutions == [4, 8, 16, 32, 64]
    assert [g.channels(r) for r in g.block_resolutions] == [256, 256, 256, 256, 128]


def test_num_codes():
    assert GeneratorConfig(encoding="sel_norm").num_codes == 1
    assert GeneratorConfig(encoding="sel_concat").num_codes == 1
    assert GeneratorConfig(encoding="none").num_codes == 1
    for n in (1, 3, 6):
        g = GeneratorConfig(encoding="sel_indoor", heatmap=HeatmapConfig(mode="multi", num_objects=n))
        assert g.num_codes == n + 1
    # num_objects only matters for sel_indoor
    assert GeneratorConfig(encoding="sel_norm", heatmap=HeatmapConfig(mode="multi", num_objects=5)).num_codes == 1


def test_uses_heatmaps():
    assert not GeneratorConfig(encoding="none").uses_heatmaps
    for enc in ("sel_norm", "sel_concat"):
        assert GeneratorConfig(encoding=enc).uses_heatmaps


def test_configs_are_frozen():
    g = GeneratorConfig()
    with pytest.raises(Exception):
        g.resolution = 64  # type: ignore[misc]


@pytest.mark.parametrize("res", [64, 128, 256])
@pytest.mark.parametrize("enc", ["none", "sel_norm", "sel_concat", "sel_indoor"])
def test_preset(res, enc):
    g, d = preset(res, enc)
    assert isinstance(g, GeneratorConfig) and isinstance(d, DiscriminatorConfig)
    g.validate()
    assert g.resolution == res and d.resolution == res
    assert g.encoding == enc
    assert g.heatmap.mode == ("multi" if enc == "sel_indoor" else "hierarchical")
    assert g.num_codes == (g.heatmap.num_objects + 1 if enc == "sel_indoor" else 1)
    assert g.uses_heatmaps == (enc != "none")
    # generator and discriminator agree on widths; every block has channels
    for r in g.block_resolutions:
        assert g.channels(r) == d.channels(r) >= 1
    assert g.z_dim >= 1 and g.w_dim >= 1
    # presets survive serialisation
    assert GeneratorConfig.from_dict(json.loads(json.dumps(g.to_dict()))) == g
    assert DiscriminatorConfig.from_dict(json.loads(json.dumps(d.to_dict()))) == d


def test_preset_explicit_mode():
    g, _ = preset(64, "sel_norm", heatmap_mode="multi")
    assert g.heatmap.mode == "multi"
    with pytest.raises(ConfigError):
        preset(64, "sel_indoor", heatmap_mode="hierarchical")
