"""Importing NVIDIA network pickles: the reader runs nothing from the file, and the rebuilt StyleGAN2-ADA generator
computes what the upstream code computes on the same weights.

`tests/data/stylegan2_ada_reference.npz` holds small random networks of three configurations (unconditional 32 px
with z_dim != w_dim, float16 layers and conv clamp; conditional 64 px; a resnet 16 px grayscale one with label
embedding and layer widths of its own), their weights perturbed so nothing matches by chance, G differing from
G_ema, and what stylegan2-ada-pytorch (run apart from this project, on the CPU in float32) computed from them:
ws with and without truncation (with a cutoff on two of them) and images with constant and no noise. The test
writes those weights into a network pickle with our own writer and imports it.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from draggan import DragConfig, DragSession
from spatialgan import render
from spatialgan.importers import NetworkPickleError, import_cached, import_pickle, load_imported, save_imported
from spatialgan.importers.netpickle import read_network_pickle

from netpickle_writer import EMBEDDED_SOURCE, Record, reference_network, write_network_pickle

REF = np.load(Path(__file__).with_name("data") / "stylegan2_ada_reference.npz")
META = json.loads(bytes(REF["__meta__"]).decode())
CONFIGS = sorted(META)


def _network(key: str, which: str) -> Record:
    rec = reference_network(REF, META, key, which)
    assert rec is not None
    return rec


def _pickle(tmp_path: Path, key: str, **extra) -> Path:
    networks = {"G": _network(key, "G"), "D": None, "G_ema": _network(key, "G_ema"), "augment_pipe": None, **extra}
    return write_network_pickle(tmp_path / f"{key}.pkl", networks)


@pytest.fixture(autouse=True)
def _marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    marker = tmp_path / "embedded-source-ran"
    monkeypatch.setenv("NETPICKLE_MARKER", str(marker))
    yield marker
    assert not marker.exists(), "the pickle's embedded source was executed"


@pytest.mark.parametrize("key", CONFIGS)
def test_imported_generator_matches_upstream(tmp_path: Path, key: str) -> None:
    G = import_pickle(_pickle(tmp_path, key))
    z, c = torch.from_numpy(REF[f"{key}/z"]), torch.from_numpy(REF[f"{key}/c"])
    psi, cutoff = META[key]["truncation"]
    assert G.num_ws == META[key]["num_ws"]
    with torch.no_grad():
        for tag, (p, co) in {"psi1": (1.0, None), "trunc": (psi, cutoff)}.items():
            ws = G.mapping(z, c if G.c_dim else None, truncation_psi=p, truncation_cutoff=co)
            np.testing.assert_allclose(ws.numpy(), REF[f"{key}/ws_{tag}"], atol=1e-5, rtol=0)
            for noise in ("const", "none"):
                img = G.synthesis(torch.from_numpy(REF[f"{key}/ws_{tag}"]), noise_mode=noise).numpy()
                np.testing.assert_allclose(img, REF[f"{key}/img_{tag}_{noise}"], atol=1e-3, rtol=0,
                                           err_msg=f"{tag} {noise}")
                # one picture at a time, as the editor draws: on a CPU that runs the channels-last path
                ws_all = torch.from_numpy(REF[f"{key}/ws_{tag}"])
                for i in range(ws_all.shape[0]):
                    one = G.synthesis(ws_all[i: i + 1], noise_mode=noise).numpy()
                    np.testing.assert_allclose(one[0], REF[f"{key}/img_{tag}_{noise}"][i], atol=1e-3, rtol=0,
                                               err_msg=f"{tag} {noise} picture {i} alone")
        # G_ema, not G: the training-time generator draws a different picture from the same z
        other = REF[f"{key}/img_G_psi1_const"]
        assert np.abs(G(z, c if G.c_dim else None).numpy() - other).max() > 1e-2


@pytest.mark.parametrize("key", CONFIGS)
def test_an_optimised_latent_draws_and_differentiates_as_the_folded_weights_do(tmp_path: Path, key: str) -> None:
    """While w is optimised (DragGAN, inversion) the style rides on the activations instead of the weights: the
    picture is still upstream's, and the gradient to w is the one the folded per-sample weights give."""
    G = import_pickle(_pickle(tmp_path, key))
    ws0 = torch.from_numpy(REF[f"{key}/ws_psi1"])[:1]
    res = G.capabilities.resolution
    probe = torch.randn(1, 3, res, res, generator=torch.Generator().manual_seed(0))

    def grad(weights_too: bool) -> tuple[torch.Tensor, torch.Tensor]:
        G.requires_grad_(weights_too)  # weights that need gradients keep the folded path
        ws = ws0.clone().requires_grad_(True)
        img = G.synthesis(ws, noise_mode="const")
        (img * probe).sum().backward()
        return img.detach(), ws.grad

    (img, g), (_, g_folded) = grad(False), grad(True)
    G.requires_grad_(False)
    np.testing.assert_allclose(img[0].numpy(), REF[f"{key}/img_psi1_const"][0], atol=1e-3, rtol=0)
    assert g_folded.abs().max() > 0
    torch.testing.assert_close(g, g_folded, rtol=1e-4, atol=1e-5 * float(g_folded.abs().max()))


def test_the_clamp_and_z_w_dims_are_exercised() -> None:
    """The reference would not test the float16 layers' clamp if no activation reached it."""
    assert META["uncond32"]["init_kwargs"]["synthesis_kwargs"]["conv_clamp"] == 256
    assert np.abs(REF["uncond32/img_psi1_const"]).max() > 200  # an RGB layer clamped at 256 shows in the image
    assert META["uncond32"]["init_kwargs"]["z_dim"] != META["uncond32"]["init_kwargs"]["w_dim"]
    assert META["cond64"]["init_kwargs"]["c_dim"] > 0


def test_render_path_and_draggan_run_on_an_imported_model(tmp_path: Path) -> None:
    G = import_pickle(_pickle(tmp_path, "cond64"))
    caps = G.capabilities
    assert caps.layout is None and caps.class_labels == tuple(f"class {i}" for i in range(5))
    assert caps.draft_resolutions == (32,) and caps.default_tap == 32
    with torch.no_grad():
        ws = G.seed_ws(3, psi=0.7, label=2)
        assert ws.shape == (1, 1, G.num_ws, G.w_dim)
        out = render(G, ws, None, taps=(16,))
        torch.testing.assert_close(out.image, G.synthesis(ws[:, 0]), rtol=0, atol=1e-6)
        assert render(G, ws, None, draft=32).image.shape == (1, 3, 32, 32)
    s = DragSession(G, ws, None, [(20.0, 30.0)], [(28.0, 30.0)], config=DragConfig(mode="draggan", max_steps=3))
    result = s.run()
    assert result.step >= 1 and np.isfinite(result.distances[0])
    assert not torch.equal(s.ws(), ws), "the refine moved w"


def test_save_and_load_in_our_format_and_the_cache(tmp_path: Path) -> None:
    pkl = _pickle(tmp_path, "uncond32")
    G = import_pickle(pkl)
    path = save_imported(tmp_path / "m.safetensors", G, {"source": str(pkl)})
    again, card = load_imported(path)
    z = torch.randn(2, G.z_dim)
    with torch.no_grad():
        assert torch.equal(G(z), again(z))
    assert card["source"] == str(pkl)
    first: list[str] = []
    second: list[str] = []
    cached, where = import_cached(pkl, tmp_path / "cache", first.append)
    cached2, where2 = import_cached(pkl, tmp_path / "cache", second.append)
    assert where == where2 and where.exists()
    # the first open reports each stage of the import, the second only that it reuses it
    assert [s.split(" ")[0] for s in first] == ["hashing", "reading", "rebuilding", "saving"], first
    assert [s.split(" ")[0] for s in second] == ["hashing", "loading"], second
    with torch.no_grad():
        assert torch.equal(cached(z), cached2(z))


class _Payload:
    """What an attacker would put in a pickle: os.system on load."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        import os
        return os.system, (f"touch {self.marker}",)


def test_a_malicious_pickle_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": _Payload(marker)}))
    with pytest.raises(NetworkPickleError, match=r"(posix|os|nt)\.system"):
        import_pickle(path)
    assert not marker.exists()
    pickle.loads(path.read_bytes())  # the same file, opened the usual way, does run its payload
    assert marker.exists()


def test_the_embedded_source_is_kept_as_text(tmp_path: Path) -> None:
    data = read_network_pickle(_pickle(tmp_path, "resnet16"))
    assert data["G_ema"].class_name == "Generator" and data["G_ema"].module_src == EMBEDDED_SOURCE
    assert data["D"] is None


@pytest.mark.parametrize("case,message", [
    ("truncated", "truncated or corrupt"),
    ("not_a_dict", "not a network pickle"),
    ("no_generator", "no generator"),
    ("wrong_shape", "has shape"),
    ("missing_tensor", "missing 1 tensor"),
    ("unknown_class", "training.networks.Generator"),
    ("tensorflow", "legacy.py"),
])
def test_bad_pickles_get_one_clear_error(tmp_path: Path, case: str, message: str) -> None:
    path = tmp_path / "bad.pkl"
    if case == "truncated":
        full = _pickle(tmp_path, "resnet16").read_bytes()
        path.write_bytes(full[: len(full) // 2])
    elif case == "not_a_dict":
        path.write_bytes(pickle.dumps([1, 2, 3]))
    elif case == "no_generator":
        write_network_pickle(path, {"D": None, "training_set_kwargs": {}})
    elif case in ("wrong_shape", "missing_tensor"):
        rec = _network("resnet16", "G_ema")
        fc0 = rec.state["_modules"]["mapping"].state["_modules"]["fc0"].state["_parameters"]
        if case == "wrong_shape":
            fc0["weight"] = torch.nn.Parameter(torch.zeros(3, 3), requires_grad=False)
        else:
            del fc0["bias"]
        write_network_pickle(path, {"G_ema": rec})
    elif case == "unknown_class":  # a pickle whose generator is a plain class reference, not a persistent record
        path.write_bytes(b"\x80\x04\x95\x2d\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x05G_ema\x94\x8c\x11training."
                         b"networks\x94\x8c\tGenerator\x94\x93\x94s.")
    elif case == "tensorflow":
        path.write_bytes(b"\x80\x04\x95\x2d\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x05G_ema\x94\x8c\x14dnnlib.tflib."
                         b"network\x94\x8c\x07Network\x94\x93\x94s.")
    with pytest.raises(NetworkPickleError, match=message) as err:
        import_pickle(path)
    assert "\n" not in str(err.value) and "Traceback" not in str(err.value)


def test_import_and_info_commands(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from spatialgan.cli.importer import main as import_main
    from spatialgan.cli.info import main as info_main

    pkl = _pickle(tmp_path, "cond64")
    out = tmp_path / "cond64.safetensors"
    assert import_main([str(pkl), "--out", str(out)]) == 0
    _, card = load_imported(out)
    assert card["resolution"] == 64 and card["labels"] == [f"class {i}" for i in range(5)]
    assert len(card["source_sha256"]) == 64 and card["source"] == str(pkl)
    capsys.readouterr()
    assert info_main([str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["description"].startswith("StyleGAN2-ADA 64 px")
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"\x80\x04garbage")
    assert import_main([str(bad)]) == 2
    err = capsys.readouterr().err.splitlines()
    # progress lines, then one line of error and no traceback
    assert err[-1].startswith("error: ") and all(line.endswith("...") for line in err[:-1]), err


def test_the_editor_worker_draws_refines_and_switches_classes(tmp_path: Path) -> None:
    """The editor's own presenter and worker on an imported conditional model: no heatmaps, a class picker, and
    a DragGAN refine."""
    import time

    from app.controller import Controller
    from app.model_jobs import Refine
    from app.presenter import Presenter
    from app.worker import Worker
    from spatialgan import load

    G = load(_pickle(tmp_path, "cond64"))
    worker = Worker(G, torch.device("cpu"), "cond64.pkl")
    try:
        c = Controller.for_worker(worker, 3, 0.7, "cond64.pkl")
        c.autosave_path = None  # type: ignore[assignment]
        p = Presenter(c, worker)
        assert c.state.edit.spec is None and p.info.capabilities.class_labels

        def picture() -> np.ndarray:
            end = time.monotonic() + 30
            while time.monotonic() < end:
                u = p.tick()
                if u.image is not None and p.shown == c.state.generation:
                    return u.image
                time.sleep(0.005)
            raise AssertionError("no picture")

        first = picture()
        c.set_label(3)
        assert not np.array_equal(picture(), first), "another class, another picture"
        c.add_point(20, 30)
        c.add_point(28, 30)
        c.set_refine(max_steps=3)
        assert p.start(Refine(*c.refine_input(), c.state.refine)) and c.state.refine.mode == "draggan"
        end = time.monotonic() + 60
        while p.refining and time.monotonic() < end:
            p.tick()
            time.sleep(0.005)
        assert not p.refining and c.state.edit.ws_override is not None, p.status.error
    finally:
        worker.close()
