"""Checkpoint format: bit-exact round trip, and the project's own error for every bad file."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from conftest import VARIANTS, tiny_models
from spatialgan.checkpoint import CHECKSUM_KEY, _digest
from spatialgan import (CheckpointError, SpatialGANError, load_checkpoint, load_generator, read_info, sample_heatmaps,
                        save_checkpoint)


def _image(G, seed: int = 0) -> torch.Tensor:
    hm = G.heatmap_inputs(sample_heatmaps(G.config.heatmap, 2, seed=seed)) if G.config.uses_heatmaps else None
    with torch.no_grad():
        return G(G.sample_z(2, seed=seed), hm, psi=0.7, noise_mode="const").image


@pytest.mark.parametrize("encoding,mode", VARIANTS)
def test_round_trip_is_bit_exact(tmp_path: Path, encoding: str, mode: str) -> None:
    G, D = tiny_models(encoding, mode)
    G.mapping_net.w_avg.normal_()  # buffers travel too
    path = save_checkpoint(tmp_path / "m.safetensors", G, D, meta={"kimg": 12, "dataset": "rooms"})
    ck = load_checkpoint(path, with_discriminator=True)
    assert ck.info.generator == G.config and ck.info.discriminator == D.config
    assert ck.info.meta == {"kimg": 12, "dataset": "rooms"}
    assert torch.equal(_image(G), _image(ck.generator))
    img = torch.randn(2, 3, 32, 32)
    assert torch.equal(D(img).logits, ck.discriminator(img).logits)


def test_half_precision_renders_nearly_the_same(tmp_path: Path) -> None:
    G, _ = tiny_models("sel_indoor", "multi")
    full = tmp_path / "f32.safetensors"
    half = tmp_path / "f16.safetensors"
    save_checkpoint(full, G)
    save_checkpoint(half, G, dtype=torch.float16)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    ck = load_checkpoint(half)
    assert ck.info.dtype == "float16"
    assert next(ck.generator.parameters()).dtype == torch.float32  # computed in float32 after loading
    diff = (_image(G) - _image(ck.generator)).abs().max().item()
    assert 0 < diff < 0.05


def test_generator_only_file(tmp_path: Path) -> None:
    G, _ = tiny_models()
    path = save_checkpoint(tmp_path / "g.safetensors", G)
    assert read_info(path).discriminator is None
    with pytest.raises(CheckpointError, match="no discriminator"):
        load_checkpoint(path, with_discriminator=True)


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    G, _ = tiny_models()
    path = tmp_path / "sub" / "g.safetensors"
    save_checkpoint(path, G)
    save_checkpoint(path, G)  # overwrite in place
    assert [p.name for p in path.parent.iterdir()] == ["g.safetensors"]


@pytest.fixture()
def good(tmp_path: Path) -> Path:
    G, D = tiny_models()
    return save_checkpoint(tmp_path / "good.safetensors", G, D)


def _expect_error(path: Path, *fragments: str) -> CheckpointError:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    for fragment in fragments:
        assert fragment in msg, msg
    assert isinstance(info.value, SpatialGANError)
    return info.value


def test_missing_and_folder(tmp_path: Path) -> None:
    _expect_error(tmp_path / "nope.safetensors", "no checkpoint at", "nope.safetensors")
    _expect_error(tmp_path, "is a folder")


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_truncated(good: Path, tmp_path: Path, keep: float) -> None:
    data = good.read_bytes()
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(data[: int(len(data) * keep)])
    _expect_error(bad, "cut.safetensors", "truncated or corrupt")


def test_garbage_and_empty(tmp_path: Path) -> None:
    for name, data in (("empty.safetensors", b""), ("junk.safetensors", b"hello world, not a model" * 10)):
        (tmp_path / name).write_bytes(data)
        _expect_error(tmp_path / name, name)


def test_flipped_weight_bytes_are_detected(good: Path, tmp_path: Path) -> None:
    data = bytearray(good.read_bytes())
    data[-100] ^= 0x5A
    bad = tmp_path / "flip.safetensors"
    bad.write_bytes(bytes(data))
    _expect_error(bad, "corrupt", "checksum")


def _resave(good: Path, tmp_path: Path, edit, keep_checksum: bool = True) -> Path:
    """Re-save `good` with `edit(tensors, meta)` applied, keeping the header's checksums as they were."""
    from safetensors import safe_open

    with safe_open(str(good), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        meta = dict(f.metadata())
    tensors, meta = edit(tensors, meta)
    out = tmp_path / "resaved.safetensors"
    tmp_path.mkdir(exist_ok=True)
    save_file(tensors, str(out), metadata=meta)
    return out


def test_a_swapped_dtype_or_shape_is_detected(good: Path, tmp_path: Path) -> None:
    """Same bytes under another dtype (float16 read as bfloat16) or shape: the bytes alone would still match."""
    half = _resave(good, tmp_path, lambda t, m: ({k: v.half() for k, v in t.items()},
                                                  {**m, CHECKSUM_KEY: _digest({k: v.half() for k, v in t.items()})}))
    load_checkpoint(half)  # a consistent float16 file loads
    swapped = _resave(half, tmp_path / "b", lambda t, m: ({k: v.view(torch.bfloat16) if v.dtype == torch.float16 else v
                                                           for k, v in t.items()}, m))
    _expect_error(swapped, "corrupt", "checksum")
    key = "G.mapping_net.w_avg"
    reshaped = _resave(half, tmp_path / "c", lambda t, m: ({**t, key: t[key].reshape(2, -1)}, m))
    _expect_error(reshaped, "corrupt", "checksum")


def test_files_with_the_older_checksum_still_load(good: Path, tmp_path: Path) -> None:
    def older(t, m):
        m = dict(m)
        m.pop(CHECKSUM_KEY)
        return t, {**m, "sha256": _digest(t, with_layout=False)}

    old = _resave(good, tmp_path, older)
    load_checkpoint(old)
    data = bytearray(old.read_bytes())
    data[-100] ^= 0x5A
    old.write_bytes(bytes(data))
    _expect_error(old, "corrupt", "checksum")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_weights_with_nan_or_infinity_are_refused(good: Path, tmp_path: Path, bad: float) -> None:
    def poison(t, m):
        key = sorted(k for k in t if k.startswith("G.synthesis"))[0]
        t = {**t, key: t[key].clone()}
        t[key].view(-1)[0] = bad
        return t, {**m, CHECKSUM_KEY: _digest(t)}  # a consistent file: the checksum alone would not catch it

    _expect_error(_resave(good, tmp_path, poison), "NaN or infinity")


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):  # unpickling this would create the marker file
        return (open, (self.marker, "w"))


def test_pickle_is_refused_and_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    bad = tmp_path / "network-snapshot.pkl"
    bad.write_bytes(pickle.dumps({"G_ema": _Payload(str(marker))}))
    _expect_error(bad, "pickle", "not opened")
    assert not marker.exists()
    archive = tmp_path / "model.pt"
    torch.save({"g_ema": {}}, archive)
    _expect_error(archive, "torch.save")


def test_foreign_safetensors(tmp_path: Path) -> None:
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, str(other))
    _expect_error(other, "not a SpatialGAN checkpoint")


def _rewrite(good: Path, tmp_path: Path, edit) -> Path:
    """Re-save `good`'s tensors with edited tensors/metadata (a mismatched or hand-edited file)."""
    from safetensors import safe_open

    with safe_open(str(good), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        meta = dict(f.metadata())
    tensors, meta = edit(tensors, meta)
    meta.pop("sha256", None)  # as if written by a tool that does not checksum
    meta.pop(CHECKSUM_KEY, None)
    out = tmp_path / "edited.safetensors"
    save_file(tensors, str(out), metadata=meta)
    return out


def test_config_weights_mismatch(good: Path, tmp_path: Path) -> None:
    def wider(t, m):
        g = json.loads(m["generator"])
        g["channel_max"] = 64
        return t, {**m, "generator": json.dumps(g)}

    _expect_error(_rewrite(good, tmp_path, wider), "has shape", "its config needs")

    def drop(t, m):
        t.pop("G.mapping_net.w_avg")
        return t, m

    _expect_error(_rewrite(good, tmp_path, drop), "does not match its config", "missing", "G.mapping_net.w_avg")

    def extra(t, m):
        return {**t, "G.surprise": torch.zeros(1)}, m

    _expect_error(_rewrite(good, tmp_path, extra), "unexpected", "G.surprise")


def test_bad_header_config(good: Path, tmp_path: Path) -> None:
    def unknown_field(t, m):
        g = json.loads(m["generator"])
        g["turbo"] = True
        return t, {**m, "generator": json.dumps(g)}

    _expect_error(_rewrite(good, tmp_path, unknown_field), "bad config", "turbo")
    _expect_error(_rewrite(good, tmp_path, lambda t, m: (t, {**m, "generator": "{not json"})), "bad config")
    _expect_error(_rewrite(good, tmp_path, lambda t, m: (t, {**m, "format_version": "99"})), "version")


def test_bundled_list_holds_only_generator_checkpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The editor's model list: a segmenter or any other safetensors file beside the models is left out."""
    from spatialgan.paths import default_checkpoint, list_checkpoints

    G, _ = tiny_models()
    save_checkpoint(tmp_path / "b_model.safetensors", G)
    save_checkpoint(tmp_path / "a_model.safetensors", G)
    save_file({"w": torch.zeros(2)}, str(tmp_path / "seg.safetensors"), metadata={"format": "segmenter"})
    monkeypatch.setenv("SPATIALGAN_CHECKPOINTS", str(tmp_path))
    assert [p.name for p in list_checkpoints()] == ["a_model.safetensors", "b_model.safetensors"]
    assert default_checkpoint() == tmp_path / "a_model.safetensors"  # no rooms128 here: the first model


def test_load_generator_untrained_preset_and_checkpoint(tmp_path: Path) -> None:
    """'RES' alone is the rooms encoding; a bad spec or no source at all is a clear error, not a traceback."""
    G, source = load_generator(None, "64")
    assert G.config.encoding == "sel_indoor" and G.config.resolution == 64 and "untrained" in source
    G, _ = load_generator(None, "32:sel_norm")
    assert G.config.heatmap.mode == "hierarchical"
    for bad in ("64:nope", "sixty-four", "48:sel_norm"):
        with pytest.raises(SpatialGANError, match="--untrained expects"):
            load_generator(None, bad)
    with pytest.raises(CheckpointError, match="no checkpoint given"):
        load_generator(None, None)
    G0, _ = tiny_models("sel_norm", "hierarchical", seed=0)
    save_checkpoint(tmp_path / "m.safetensors", G0)
    G1, source = load_generator(tmp_path / "m.safetensors")
    assert source.endswith("m.safetensors") and not G1.training
    for a, b in zip(G0.state_dict().values(), G1.state_dict().values()):
        assert torch.equal(a, b)


def test_research_variants_travel_beside_the_config_and_old_headers_migrate(tmp_path: Path) -> None:
    """An experimental generator's variant is stored apart from its config (a shipped model's header has none);
    a header from before the split, with the variant inside the config, loads as the same model."""
    from safetensors import safe_open

    from spatialgan.config import GeneratorConfig
    from spatialgan.research import Variant, build, variant_of

    g = tiny_models("sel_norm", "hierarchical")[0].config
    variant = Variant(heatmap_sampling="independent", const_input="flat", sel_gain=0.5)
    G = build(g, variant)
    path = save_checkpoint(tmp_path / "v.safetensors", G)
    info = read_info(path)
    assert info.variant == variant and info.generator == g
    assert "const_input" not in json.dumps(info.generator.to_dict())
    assert torch.equal(_image(G), _image(load_checkpoint(path).generator))
    plain = save_checkpoint(tmp_path / "p.safetensors", tiny_models()[0])
    with safe_open(str(plain), framework="pt") as f:
        assert "variant" not in (f.metadata() or {})
    # the same model as written before the split: the variant's fields inside the generator config
    with safe_open(str(path), framework="pt") as f:
        meta, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
    old = json.loads(meta.pop("variant"))
    gdict = json.loads(meta["generator"])
    gdict.update(const_input=old["const_input"], sel_residual_gain=old["sel_gain"])
    gdict["heatmap"]["sampling"] = old["heatmap_sampling"]
    meta["generator"] = json.dumps(gdict)
    save_file(tensors, str(tmp_path / "old.safetensors"), metadata=meta)
    legacy = load_checkpoint(tmp_path / "old.safetensors").generator
    assert variant_of(legacy) == variant and isinstance(legacy.config, GeneratorConfig)
    assert torch.equal(_image(G), _image(legacy))
