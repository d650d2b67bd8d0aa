"""Fuzz: hundreds of malformed inputs, generated, against every reader and writer a user's files reach.

Each case feeds one bad input (a session, a heatmap spec, a checkpoint, a network pickle, a photo, a command-line
value, an output path, a drag point, a device name, a killed write) and asserts the three things a user needs:

- a clean refusal: a `SpatialGANError` (or a command's exit code 2 with one "error:" line), never another
  exception (a traceback), never a hang (each case runs under an alarm), the message free of terminal escape
  sequences and of sensible length;
- no silent acceptance: every input here is wrong, so being accepted fails the case (the few valid variants,
  marked `ok`, must be accepted and come out right);
- no lost files: the input file is unchanged, a file that was already at an output path is intact, and no
  temporary file is left behind.

The cases are built at import; `test_the_fuzz_covers_enough` states their number (at least 300) per kind.
"""

from __future__ import annotations

import base64
import json
import math
import os
import signal
import struct
import subprocess
import sys
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
from PIL import Image

from app.controller import Controller
from app.presenter import Presenter
from app.state import SessionError, session_to_dict
from app.worker import Worker
from draggan import DragConfig, DragSession
from spatialgan import HeatmapSpec, load_checkpoint, save_checkpoint
from spatialgan.checkpoint import CHECKSUM_KEY, _digest
from spatialgan.device import pick_device
from spatialgan.errors import SpatialGANError
from spatialgan.files import TMP_SUFFIX, write_atomic, write_json_atomic
from spatialgan.importers import import_pickle
from spatialgan.photo import load_photo
from spatialgan.video import write_video

from conftest import tiny_models
from netpickle_writer import Record, write_network_pickle

ROOT = Path(__file__).resolve().parents[1]
ALARM_S = 30  # a case that takes longer hangs
MAX_MESSAGE = 1000


@dataclass(frozen=True)
class Case:
    kind: str
    name: str
    run: Callable[["Env"], None]


CASES: list[Case] = []


def case(kind: str, name: str) -> Callable[[Callable[["Env"], None]], Callable[["Env"], None]]:
    def add(fn: Callable[["Env"], None]) -> Callable[["Env"], None]:
        CASES.append(Case(kind, name, fn))
        return fn
    return add


def add(kind: str, name: str, fn: Callable[["Env"], None]) -> None:
    CASES.append(Case(kind, name, fn))


# ---- the environment every case gets ---------------------------------------------------------------------
class Env:
    def __init__(self, tmp: Path, worker: Worker, checkpoint: Path, capsys: pytest.CaptureFixture) -> None:
        self.tmp, self.worker, self.checkpoint, self.capsys = tmp, worker, checkpoint, capsys

    def controller(self) -> Controller:
        c = Controller.for_worker(self.worker, 3, 0.7, str(self.checkpoint))
        c.autosave_path = self.tmp / "autosave.json"
        return c

    def file(self, name: str, data: bytes | str) -> Path:
        p = self.tmp / name
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        return p


def refused(fn: Callable[[], Any], *words: str) -> str:
    """`fn` must raise a SpatialGANError whose message is clean; returns the message."""
    try:
        fn()
    except SpatialGANError as exc:
        msg = str(exc)
    else:
        raise AssertionError("silently accepted")
    assert "\x1b" not in msg and len(msg) <= MAX_MESSAGE, repr(msg[:300])
    for w in words:
        assert w in msg, (w, msg)
    return msg


def cli_refused(env: Env, main: Callable[[list[str]], int], argv: list[str], *words: str) -> str:
    """A command must end with exit code 2 and one clean "error:" line (argparse adds its usage line)."""
    env.capsys.readouterr()
    code = main(argv)
    err = env.capsys.readouterr().err
    assert code == 2, f"exit code {code}: {err[-500:]}"
    assert "error:" in err and "Traceback" not in err and "\x1b" not in err, err[-500:]
    for w in words:
        assert w in err, (w, err[-500:])
    return err


def no_temporaries(folder: Path) -> None:
    left = [p.name for p in folder.rglob(f"*{TMP_SUFFIX}")]
    assert not left, left


# ---- sessions -------------------------------------------------------------------------------------------
def _valid_session(env: Env) -> dict[str, Any]:
    c = env.controller()
    c.add_point(3, 3)
    c.add_point(9, 4)
    return json.loads(json.dumps(session_to_dict(c.state)))


def _session_case(name: str, mutate: Callable[[dict[str, Any]], Any], *words: str) -> None:
    def run(env: Env) -> None:
        data = mutate(_valid_session(env))
        text = data if isinstance(data, bytes) else json.dumps(data)
        path = env.file("s.json", text)
        before = path.read_bytes()
        c = env.controller()
        depth, edit = len(c.state.undo_stack), c.state.edit.copy()
        refused(lambda: c.load_session(path), *words)
        assert len(c.state.undo_stack) == depth and c.state.edit.seed == edit.seed  # nothing changed
        assert path.read_bytes() == before  # the file is left as it was
    add("session", name, run)


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def mutate(d: dict[str, Any]) -> dict[str, Any]:
        d[key] = value
        return d
    return mutate


def _spec_set(level: int, index: int, field: str, value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def mutate(d: dict[str, Any]) -> dict[str, Any]:
        d["spec"]["levels"][level][index][field] = value
        return d
    return mutate


BAD_INTS = [-1, 2 ** 31, 2 ** 64, 10 ** 400, 1.5, "3", True, None, [], {}]
BAD_NUMBERS = ["0.5", None, [], {}, True, 10 ** 400, -10 ** 400]
for v in BAD_INTS:
    _session_case(f"seed={str(v)[:20]}", _set("seed", v), "seed")
    _session_case(f"label={str(v)[:20]}", _set("label", v), "label") if v not in (None, 2 ** 31, 2 ** 64, 10 ** 400) \
        else None
    _session_case(f"code_seeds=[{str(v)[:20]}]", lambda d, v=v: {**d, "code_seeds": [v] * len(d["code_seeds"])},
                  "code_seeds") if v is not None else None
for v in [*BAD_NUMBERS, 3, -3, 1e308 * 10]:
    _session_case(f"psi={str(v)[:20]}", _set("psi", v), "psi")
for top in ([], "session", 1, None, True, [[]]):
    _session_case(f"top-level {json.dumps(top)}", lambda d, top=top: top, "JSON object")
for key, value, words in [
        ("format", "other", "not a SpatialGAN session"), ("format", None, "not a SpatialGAN session"),
        ("version", 2, "version"), ("version", "1", "version"), ("version", None, "version"),
        ("version", True, "version"), ("version", 1.0, "version"), ("home", "here", "unknown field"),
        ("resolution", 128, "px model"), ("carry", "yes", "carry"), ("carry", 1, "carry"),
        ("model_path", 5, "model_path"), ("model_path", [], "model_path"),
        ("code_seeds", [1], "code_seeds"), ("code_seeds", "1,2", "code_seeds"),
        ("handles", "nope", "handles"), ("handles", [[1, 2, 3]], "handles[0]"), ("handles", [["a", "b"]], "handles[0]"),
        ("handles", [[10 ** 400, 1]], "handles[0]"), ("handles", [[-5, 1]], "outside"), ("handles", [[1, 500]], "outside"),
        ("handles", [[1, 1], [2, 2], [3, 3]], "handles"), ("targets", [[1, 1], [2, 2], [3, 3]], "targets"),
        ("targets", [[None, 1]], "targets[0]"),
        ("mask", [], "mask"), ("mask", {"shape": [32, 32], "runs": [-1, 1025]}, "runs"),
        ("mask", {"shape": [32, 32], "runs": [1, 2]}, "runs"), ("mask", {"shape": [10 ** 9, 10 ** 9], "runs": [1]}, "shape"),
        ("mask", {"shape": [32, 32], "runs": [1.5, 1022.5]}, "runs"), ("mask", {"shape": "32", "runs": [1024]}, "mask"),
        ("ws_override", {"shape": [1, 4, 10, 16], "float32_base64": "!!!"}, "ws_override"),
        ("ws_override", {"shape": [1, 4], "float32_base64": ""}, "ws_override"),
        ("ws_override", {"shape": [10 ** 12], "float32_base64": "AAAA"}, "ws_override"),
        ("ws_override", [1, 2, 3], "ws_override"),
        ("spec", [], "spec"), ("spec", {"mode": "multi"}, "spec"), ("spec", {"mode": "evil", "levels": [[]]}, "spec"),
        ("spec", {"mode": "multi", "levels": [[{"x": 0.5, "y": 0.5, "sigma": 0.1}] * 100000]}, "at most"),
        ("spec", {"mode": "multi", "levels": [[]] * 1000}, "at most"),
        ("homes", [[0.5, 0.5]], "homes"), ("homes", "here", "homes"),
]:
    _session_case(f"{key}={json.dumps(value)[:40]}", _set(key, value), words)
for field, value, words in [
        ("x", 10 ** 400, "finite"), ("x", "0.5", "finite"), ("x", None, "finite"), ("x", 99.0, "outside"),
        ("y", -99.0, "outside"), ("sigma", 0, "sigma"), ("sigma", -1, "sigma"), ("sigma", 1e9, "sigma"),
        ("sigma", [], "finite"), ("weight", -1, "weight"), ("weight", 1e30, "weight"), ("enabled", "yes", "enabled"),
        ("enabled", 1, "enabled"), ("parent", 0, "parent"), ("evil", 1, "unknown field"),
]:
    _session_case(f"spec centre {field}={str(value)[:20]}", _spec_set(0, 0, field, value), words)


def _ws_nan(d: dict[str, Any]) -> dict[str, Any]:
    shape = d["ws_override"]["shape"] if d.get("ws_override") else None
    shape = shape or [1, 4, 6, 16]
    a = np.zeros(shape, np.float32)
    a.flat[0] = np.nan
    d["ws_override"] = {"shape": list(a.shape), "float32_base64": base64.b64encode(a.tobytes()).decode()}
    return d


def _ws_shape(shape: list[int]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def mutate(d: dict[str, Any]) -> dict[str, Any]:
        a = np.zeros(shape, np.float32)
        d["ws_override"] = {"shape": shape, "float32_base64": base64.b64encode(a.tobytes()).decode()}
        return d
    return mutate


_session_case("ws_override with NaN", _ws_nan, "ws_override")
for shape in ([1, 4, 3, 16], [1, 4, 6, 15], [1, 1, 6, 16], [4, 6, 16], [1, 4, 6, 16, 1]):
    _session_case(f"ws_override shape {shape}", _ws_shape(shape), "ws_override")
_session_case("spec with a centre too many", lambda d: (d["spec"]["levels"][0].append(dict(d["spec"]["levels"][0][0])),
                                                        d)[1], "spec")
_session_case("spec with a centre too few", lambda d: (d["spec"]["levels"][0].pop(), d)[1], "")
_session_case("escape sequences in a field", _set("format", "\x1b[2J\x1b[31mboom" * 50), "not a SpatialGAN")
for name, raw in [
        ("empty", b""), ("not UTF-8", b"\xff\xfe\x00{\x00}"), ("UTF-16", json.dumps({"a": 1}).encode("utf-16")),
        ("deep [", b"[" * 100000), ("deep {", b'{"a":' * 50000), ("nested 65", b"[" * 65 + b"]" * 65),
        ("truncated", b'{"format": "spatialgan-session", "ver'), ("trailing garbage", b'{"a": 1} xx'),
        ("NaN token", b'{"format": "spatialgan-session", "version": 1, "seed": NaN}'),
        ("Infinity token", b'{"format": "spatialgan-session", "version": 1, "psi": Infinity}'),
        ("zero bytes", b"\x00" * 64), ("a PNG", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40),
        ("a number", b"12345678901234567890" * 100), ("a string", b'"' + b"a" * 10000 + b'"'),
]:
    _session_case(f"bytes: {name}", lambda d, raw=raw: raw, "")


def _session_path_case(name: str, make: Callable[[Env], Path], *words: str) -> None:
    def run(env: Env) -> None:
        c = env.controller()
        refused(lambda: c.load_session(make(env)), *words)
    add("session", name, run)


def _fifo(env: Env) -> Path:
    p = env.tmp / "fifo.json"
    os.mkfifo(p)
    return p


def _sparse(env: Env) -> Path:
    p = env.tmp / "huge.json"
    with open(p, "wb") as f:
        f.truncate(200 * 2 ** 20)  # 200 MB of zeros, without writing them
    return p


_session_path_case("a FIFO", _fifo, "not a regular file")
_session_path_case("a folder", lambda env: env.tmp, "folder")
_session_path_case("missing", lambda env: env.tmp / "none.json", "does not exist")
_session_path_case("a 200 MB file", _sparse, "MB")
_session_path_case("a name of 300 bytes", lambda env: env.tmp / ("n" * 300 + ".json"), "")
_session_path_case("under a regular file", lambda env: env.file("plain", "x") / "s.json", "")
_session_path_case("/dev/zero", lambda env: Path("/dev/zero"), "not a regular file")


# ---- heatmap specs --------------------------------------------------------------------------------------
def _spec_dict(env: Env) -> dict[str, Any]:
    return env.worker.default_spec(3).to_dict()


def _spec_case(name: str, mutate: Callable[[dict[str, Any]], Any], *words: str) -> None:
    def run(env: Env) -> None:
        data = mutate(_spec_dict(env))
        text = data if isinstance(data, str) else json.dumps(data)

        def parse_and_check() -> None:
            spec = HeatmapSpec.from_json(text)
            env.worker.check_layout(spec)

        refused(parse_and_check, *words)
    add("heatmap spec", name, run)


for field, value in [("x", 10 ** 400), ("x", float("inf")), ("y", "1"), ("sigma", 0.0), ("sigma", -0.1),
                     ("sigma", 3.0), ("weight", -2), ("weight", 100), ("enabled", None), ("parent", 3),
                     ("parent", True), ("x", [0.5]), ("extra", 1)]:
    _spec_case(f"{field}={str(value)[:20]}",
               lambda d, f=field, v=value: (d["levels"][0][0].__setitem__(f, v), d)[1])
for name, mutate in [
        ("mode missing", lambda d: (d.pop("mode"), d)[1]), ("mode wrong", lambda d: {**d, "mode": "hierarchical"}),
        ("no levels", lambda d: {**d, "levels": []}), ("levels not lists", lambda d: {**d, "levels": [1, 2]}),
        ("an empty level", lambda d: {**d, "levels": [[]]}), ("two levels for objects", lambda d: {**d, "levels": d["levels"] * 2}),
        ("one object too many", lambda d: {**d, "levels": [d["levels"][0] * 2]}),
        ("a million centres", lambda d: {**d, "levels": [d["levels"][0] * 400000]}),
        ("version 9", lambda d: {**d, "version": 9}), ("a list", lambda d: [d]), ("a number", lambda d: 3),
        ("not JSON", lambda d: "{mode: multi}"), ("deep", lambda d: "[" * 10000 + "]" * 10000),
        ("NaN token", lambda d: json.dumps(d).replace('"x": ', '"x": NaN, "_": ', 1)),
        ("centre not an object", lambda d: {**d, "levels": [[1, 2, 3]]}),
        ("x missing", lambda d: (d["levels"][0][0].pop("x"), d)[1]),
]:
    _spec_case(name, mutate)


# ---- checkpoints ----------------------------------------------------------------------------------------
def _rewrite_checkpoint(env: Env, edit: Callable[[dict, dict], tuple[dict, dict]], name: str = "bad.safetensors"
                        ) -> Path:
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(env.checkpoint), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        meta = dict(f.metadata())
    tensors, meta = edit(tensors, meta)
    out = env.tmp / name
    save_file(tensors, str(out), metadata=meta)
    return out


def _config_case(name: str, change: Callable[[dict], Any], *words: str) -> None:
    def edit(t: dict, m: dict) -> tuple[dict, dict]:
        g = json.loads(m["generator"])
        g = change(g)
        return t, {**m, "generator": g if isinstance(g, str) else json.dumps(g)}

    def run(env: Env) -> None:
        path = _rewrite_checkpoint(env, edit)
        refused(lambda: load_checkpoint(path), *words)
    add("checkpoint", name, run)


def _g(key: str, value: Any) -> Callable[[dict], dict]:
    return lambda g: {**g, key: value}


def _hm(key: str, value: Any) -> Callable[[dict], dict]:
    return lambda g: {**g, "heatmap": {**g["heatmap"], key: value}}


for key, value in [("z_dim", 10 ** 9), ("z_dim", 0), ("z_dim", -4), ("w_dim", 10 ** 7), ("w_dim", "16"),
                   ("mapping_layers", 10 ** 6), ("mapping_layers", 2.5), ("channel_base", 2 ** 40),
                   ("channel_max", 10 ** 8), ("resolution", 3), ("resolution", 2 ** 20), ("resolution", 10 ** 400),
                   ("resolution", None), ("img_channels", 0), ("img_channels", 1000), ("sel_hidden", 10 ** 9),
                   ("heatmap_features", -1), ("encoding", "evil"), ("w_avg_beta", "nan"), ("mapping_lr_mul", 10 ** 400),
                   ("unknown_field", 1)]:
    _config_case(f"generator {key}={str(value)[:20]}", _g(key, value))
for key, value in [("num_objects", 10 ** 7), ("num_objects", 0), ("levels", [4, 8, 10 ** 6]), ("levels", [4] * 100),
                   ("centres_per_level", [1, 2, 10 ** 6]), ("centres_per_level", "124"), ("levels", None),
                   ("mode", "both")]:
    _config_case(f"heatmap {key}={str(value)[:20]}", _hm(key, value))
_config_case("generator config not JSON", lambda g: "{z_dim: 3", "bad config")
_config_case("generator config nested deeply", lambda g: "[" * 5000 + "]" * 5000, "bad config")
_config_case("generator config a list", lambda g: [g], "bad config")
_config_case("generator config an empty list", lambda g: [], "not an object")
_config_case("generator config a string", lambda g: json.dumps("64"), "not an object")


def _weights_case(name: str, edit: Callable[[dict, dict], tuple[dict, dict]], *words: str) -> None:
    def run(env: Env) -> None:
        path = _rewrite_checkpoint(env, edit)
        refused(lambda: load_checkpoint(path), *words)
    add("checkpoint", name, run)


def _poison(value: float, consistent: bool) -> Callable[[dict, dict], tuple[dict, dict]]:
    def edit(t: dict, m: dict) -> tuple[dict, dict]:
        key = sorted(k for k in t if t[k].is_floating_point())[3]
        t = {**t, key: t[key].clone()}
        t[key].view(-1)[0] = value
        return t, ({**m, CHECKSUM_KEY: _digest(t)} if consistent else m)
    return edit


for value in (float("nan"), float("inf"), -float("inf")):
    _weights_case(f"a weight {value}, checksum updated", _poison(value, True), "NaN or infinity")
    _weights_case(f"a weight {value}, checksum stale", _poison(value, False), "")
_weights_case("dtype swapped", lambda t, m: ({k: v.half().view(torch.bfloat16) for k, v in t.items()}, m), "checksum")
_weights_case("a tensor reshaped", lambda t, m: ({k: v.reshape(-1) for k, v in t.items()}, m), "")
_weights_case("a tensor missing", lambda t, m: ({k: v for k, v in list(t.items())[1:]}, {**m, CHECKSUM_KEY: ""}), "")
_weights_case("format missing", lambda t, m: (t, {k: v for k, v in m.items() if k != "format"}), "not a SpatialGAN")
_weights_case("format version 99", lambda t, m: (t, {**m, "format_version": "99"}), "version")
_weights_case("meta deeply nested", lambda t, m: (t, {**m, "meta": "[" * 3000 + "]" * 3000}), "bad config")
_weights_case("meta a JSON list", lambda t, m: (t, {**m, "meta": "[1, 2]"}), "meta is a JSON list")
_weights_case("meta a JSON string", lambda t, m: (t, {**m, "meta": '"model"'}), "meta is a JSON string")
_weights_case("a second (older) checksum that is wrong", lambda t, m: (t, {**m, "sha256": "0" * 64}), "checksum")


def _file_case(name: str, make: Callable[[Env], Path], *words: str) -> None:
    def run(env: Env) -> None:
        path = make(env)
        refused(lambda: load_checkpoint(path), *words)
    add("checkpoint", name, run)


def _cut(fraction: float) -> Callable[[Env], Path]:
    return lambda env: env.file("cut.safetensors", env.checkpoint.read_bytes()[: int(env.checkpoint.stat().st_size
                                                                                     * fraction)])


for fraction in (0.0, 0.001, 0.01, 0.3, 0.9, 0.9999):
    _file_case(f"truncated at {fraction}", _cut(fraction))


def _flip(offset: int) -> Callable[[Env], Path]:
    def make(env: Env) -> Path:
        data = bytearray(env.checkpoint.read_bytes())
        data[offset] ^= 0xFF
        return env.file("flip.safetensors", bytes(data))
    return make


for offset in (0, 3, 7, 9, 20, -1, -1000):
    _file_case(f"byte {offset} flipped", _flip(offset))
_file_case("header length 2**62", lambda env: env.file("len.safetensors", struct.pack("<Q", 2 ** 62) + b"{}"))
_file_case("header of garbage", lambda env: env.file("g.safetensors", struct.pack("<Q", 8) + b"\xff" * 8))
_file_case("a FIFO", lambda env: _fifo(env), "not a regular file")
_file_case("a folder", lambda env: env.tmp, "folder")
_file_case("/dev/zero", lambda env: Path("/dev/zero"), "not a regular file")
_file_case("a pickle", lambda env: env.file("p.safetensors", b"\x80\x04K\x01."), "pickle")


# ---- network pickles ------------------------------------------------------------------------------------
def _pickle_case(name: str, make: Callable[[Env], Path], *words: str) -> None:
    def run(env: Env) -> None:
        marker = env.tmp / "executed"
        path = make(env)
        refused(lambda: import_pickle(path), *words)
        assert not marker.exists()
    add("network pickle", name, run)


def _kwargs_pickle(**kwargs: Any) -> Callable[[Env], Path]:
    base = dict(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3,
                mapping_kwargs={"num_layers": 2}, synthesis_kwargs={"channel_base": 256, "channel_max": 16})

    def make(env: Env) -> Path:
        args = {**base, **kwargs}
        rec = Record("training.networks.Generator", args)
        return write_network_pickle(env.tmp / "g.pkl", {"G_ema": rec, "D": None})
    return make


for key, value in [("z_dim", 10 ** 9), ("w_dim", 10 ** 8), ("c_dim", 10 ** 12), ("img_resolution", 3),
                   ("img_resolution", 2 ** 30), ("img_channels", 10 ** 6), ("z_dim", "many"), ("w_dim", None),
                   ("mapping_kwargs", {"num_layers": 10 ** 6}), ("synthesis_kwargs", {"channel_base": 2 ** 50}),
                   ("synthesis_kwargs", {"channel_max": 10 ** 9}), ("synthesis_kwargs", {"num_fp16_res": 10 ** 9}),
                   ("z_dim", -5), ("img_resolution", 10 ** 400)]:
    _pickle_case(f"{key}={str(value)[:24]}", _kwargs_pickle(**{key: value}))


class _Evil:
    def __init__(self, marker: Path, fn: Any) -> None:
        self.marker, self.fn = marker, fn

    def __reduce__(self) -> tuple:
        return self.fn, (f"touch {self.marker}",) if self.fn is os.system else (str(self.marker),)


for fn_name, fn in [("os.system", os.system), ("builtins.eval", eval), ("builtins.exec", exec),
                    ("subprocess.getoutput", subprocess.getoutput), ("builtins.open", open)]:
    def make(env: Env, fn: Any = fn) -> Path:
        p = env.tmp / "evil.pkl"
        import pickle

        arg = f"touch {env.tmp / 'executed'}" if fn in (os.system, subprocess.getoutput) else \
            f"open({str(env.tmp / 'executed')!r}, 'w')" if fn in (eval, exec) else str(env.tmp / "executed")
        payload = type("P", (), {"__reduce__": lambda self: (fn, (arg,) if fn is not open else (arg, "w"))})()
        p.write_bytes(pickle.dumps({"G_ema": payload}))
        return p
    _pickle_case(f"payload {fn_name}", make, "")
_pickle_case("a FIFO", _fifo, "not a regular file")
_pickle_case("empty", lambda env: env.file("e.pkl", b""), "")
_pickle_case("garbage", lambda env: env.file("g.pkl", os.urandom(4096)), "")
_pickle_case("deeply nested", lambda env: env.file("d.pkl", b"\x80\x04" + b"]\x94" * 100000 + b"."), "")
_pickle_case("no generator", lambda env: write_network_pickle(env.tmp / "n.pkl", {"D": None}), "")
_pickle_case("a list", lambda env: write_network_pickle(env.tmp / "l.pkl", [1, 2]), "")  # type: ignore[arg-type]


# ---- photos ---------------------------------------------------------------------------------------------
def _png_header(width: int, height: int) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def _photo_case(name: str, make: Callable[[Env], Path], *words: str) -> None:
    def run(env: Env) -> None:
        refused(lambda: load_photo(make(env), 32), *words)
    add("photo", name, run)


def _good_png(env: Env) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((40, 60, 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


_photo_case("empty", lambda env: env.file("e.png", b""))
_photo_case("text", lambda env: env.file("t.png", "just text, not an image"))
_photo_case("random bytes", lambda env: env.file("r.jpg", os.urandom(2000)))
_photo_case("a 50000x50000 PNG header", lambda env: env.file("bomb.png", _png_header(50000, 50000)))
_photo_case("a PNG header with no pixels", lambda env: env.file("h.png", _png_header(64, 64)[:33]))
for fraction in (0.1, 0.5, 0.9):
    _photo_case(f"a PNG cut at {fraction}", lambda env, f=fraction: env.file("c.png", _good_png(env)[: int(
        len(_good_png(env)) * f)]))
_photo_case("a FIFO", _fifo, "not a regular file")
_photo_case("a folder", lambda env: env.tmp, "folder")
_photo_case("missing", lambda env: env.tmp / "none.png", "no photo")
_photo_case("/dev/zero", lambda env: Path("/dev/zero"), "not a regular file")


def _photo_ok(name: str, image: Callable[[], Image.Image], fmt: str, **save: Any) -> None:
    def run(env: Env) -> None:
        path = env.tmp / f"ok.{fmt.lower()}"
        image().save(path, fmt, **save)
        out = load_photo(path, 32)
        assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    add("photo ok", name, run)


_photo_ok("grayscale", lambda: Image.new("L", (50, 30), 128), "PNG")
_photo_ok("alpha", lambda: Image.new("RGBA", (30, 50), (10, 20, 30, 0)), "PNG")
_photo_ok("palette", lambda: Image.new("P", (40, 40), 3), "PNG")
_photo_ok("16-bit", lambda: Image.new("I;16", (40, 20), 40000), "PNG")
_photo_ok("CMYK JPEG", lambda: Image.new("CMYK", (40, 40), (0, 50, 100, 0)), "JPEG")
_photo_ok("1 pixel", lambda: Image.new("RGB", (1, 1), (1, 2, 3)), "PNG")
_photo_ok("very wide", lambda: Image.new("RGB", (2000, 3), (1, 2, 3)), "PNG")


def _exif_ok(env: Env) -> None:
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 20, 20))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    path = env.tmp / "exif.jpg"
    img.save(path, "JPEG", exif=exif)
    out = load_photo(path, 32, fit="pad")
    assert out[2, 16, 2] > 150 and out[29, 16, 0] > 150, "the photo is shown upright: blue on top, red below"


add("photo ok", "EXIF orientation", _exif_ok)


# ---- command-line values --------------------------------------------------------------------------------
def _cli_case(name: str, main_name: str, argv: Callable[[Env], list[str]], *words: str) -> None:
    def run(env: Env) -> None:
        import importlib

        module, _, fn = main_name.rpartition(":")
        main = getattr(importlib.import_module(module), fn)
        args = argv(env)  # makes the input files first
        before = sorted(p.name for p in env.tmp.iterdir())
        cli_refused(env, main, args, *words)
        assert sorted(p.name for p in env.tmp.iterdir()) == before, "a refused command wrote files"
    add("command line", name, run)


EDIT = "draggan.cli:main"
for flag, values in [("--seed", ["-1", "2147483648", str(2 ** 64), "abc", "1.5", "nan", ""]),
                     ("--psi", ["nan", "inf", "-inf", "1e309", "-5", "abc"]),
                     ("--max-steps", ["0", "-1", "1000000000", "1.5"]), ("--lr", ["0", "-1", "nan", "inf", "2"]),
                     ("--video-fps", ["0", "nan", "1000"]),
                     ("--device", ["meta", "xla", "cuda:5", "nonsense", "\x1b[31mred"])]:
    for v in values:
        _cli_case(f"edit {flag} {v!r}", EDIT, lambda env, f=flag, v=v: ["-c", str(env.checkpoint), "--drag",
                                                                         "10,12:18,12", f, v, "--out",
                                                                         str(env.tmp / "never")])
for drag in ["nan,1:2,3", "1,2:inf,3", "1,2", "1,2:3", "a,b:c,d", "1,2:3,4:5,6", "-5,2:3,4", "1,2:300,4", "3,3:3,3",
             "1e400,1:2,2", ""]:
    _cli_case(f"edit --drag {drag!r}", EDIT, lambda env, d=drag: ["-c", str(env.checkpoint), "--drag", d, "--out",
                                                                   str(env.tmp / "never")])
for point in ["nan,1", "1,inf", "1", "1,2,3", "a,b", "-5,2", "300,4", "1e400,1", ""]:
    _cli_case(f"edit --remove-object {point!r}", EDIT, lambda env, p=point: ["-c", str(env.checkpoint),
                                                                              "--remove-object", p, "--out",
                                                                              str(env.tmp / "never")])
for move in ["nan,1:2,3", "1,2", "1,2:300,4", ""]:
    _cli_case(f"edit --move-object {move!r}", EDIT, lambda env, m=move: ["-c", str(env.checkpoint),
                                                                          "--move-object", m, "--out",
                                                                          str(env.tmp / "never")])
for video in ["v.avi", "v", "", "sub/../"]:
    _cli_case(f"edit --video {video!r}", EDIT, lambda env, v=video: ["-c", str(env.checkpoint), "--drag", "10,12:18,12",
                                                                      "--video", str(env.tmp / v) if v else "",
                                                                      "--out", str(env.tmp / "never")])
_cli_case("edit --out a file", EDIT, lambda env: ["-c", str(env.checkpoint), "--drag", "10,12:18,12", "--out",
                                                  str(env.checkpoint)], "is a file")
for what, make in [("missing", lambda env: env.tmp / "none.json"), ("folder", lambda env: env.tmp),
                   ("FIFO", _fifo)]:
    _cli_case(f"edit --heatmap {what}", EDIT, lambda env, m=make: ["-c", str(env.checkpoint), "--drag", "10,12:18,12",
                                                                    "--heatmap", str(m(env)), "--out",
                                                                    str(env.tmp / "never")])
    _cli_case(f"edit --ws {what}", EDIT, lambda env, m=make: ["-c", str(env.checkpoint), "--drag", "10,12:18,12",
                                                               "--ws", str(m(env)), "--out", str(env.tmp / "never")])
    _cli_case(f"edit --checkpoint {what}", EDIT, lambda env, m=make: ["-c", str(m(env)), "--drag", "10,12:18,12",
                                                                       "--out", str(env.tmp / "never")])

SAMPLE = "spatialgan.cli.sample:main"
for argv in (["--seeds", "-1"], ["--seeds", "0-100000"], ["--seeds", "5-2"], ["--seeds", "a-b"], ["--seeds", ""],
             ["--seeds", str(2 ** 40)], ["--scale", "0"], ["--scale", "100"], ["--psi", "nan"], ["--out", "x.txt"],
             ["--out", ""], ["--out", "/proc/x.png"], ["--device", "meta"]):
    _cli_case(f"sample {' '.join(argv)!r}", SAMPLE, lambda env, a=argv: ["-c", str(env.checkpoint), *a]
              + ([] if "--out" in a else ["--out", str(env.tmp / "never.png")]))
_cli_case("sample --out a folder", SAMPLE, lambda env: ["-c", str(env.checkpoint), "--out", str(env.tmp)], "folder")
_cli_case("sample --out under a file", SAMPLE, lambda env: ["-c", str(env.checkpoint), "--out",
                                                            str(env.checkpoint / "x.png")], "not a folder")

TRAIN = "spatialgan.training.cli:main"
for flag, value in [("--g-lr", "nan"), ("--g-lr", "0"), ("--d-lr", "-1"), ("--ema-kimg", "-1"), ("--ema-kimg", "nan"),
                    ("--r1-gamma", "nan"), ("--r1-gamma", "-1"), ("--align-weight", "inf"), ("--align-weight", "-1"),
                    ("--batch", "0"), ("--batch", "1000000000"), ("--kimg", "nan"), ("--kimg", "1e400"),
                    ("--seed", "-1"), ("--seed", str(2 ** 64)), ("--resolution", "48"), ("--resolution", "4096"),
                    ("--channel-base", str(10 ** 12)), ("--w-dim", "0"), ("--style-mixing", "2"),
                    ("--snapshot-kimg", "0"), ("--move-weight", "nan"), ("--workers", "-1"), ("--sel-gain", "nan")]:
    _cli_case(f"train {flag} {value}", TRAIN, lambda env, f=flag, v=value: ["new", str(env.tmp / "run"), f, v,
                                                                           "--no-progress"])
DATASET = "spatialgan.data.cli:main"
for argv in (["export", "rooms", "--count", "0"], ["export", "rooms", "--count", str(10 ** 12)],
             ["export", "pets", "--count", "2", "--resolution", "7"], ["export", "pets", "--count", "2", "--seed", "-3"],
             ["preview", "rooms", "--count", "5000"], ["export", "evil", "--count", "2"]):
    _cli_case(f"dataset {' '.join(argv)}", DATASET, lambda env, a=argv: [*a, "--out", str(env.tmp / "never")])
METRICS = "spatialgan.metrics.cli:main"
for argv in (["fid", "CK", "--data", "rooms", "--num", "0"], ["fid", "CK", "--data", "rooms", "--batch", "0"],
             ["comove", "CK", "--num", "1"], ["comove", "CK", "--seed", "-1"], ["comove", "CK", "--json", "TMP"],
             ["comove", "CK", "--carry", "3"], ["fid", "CK", "--data", "rooms", "--device", "xla"]):
    _cli_case(f"metrics {' '.join(argv)}", METRICS, lambda env, a=argv: [str(env.checkpoint) if x == "CK" else
                                                                          str(env.tmp) if x == "TMP" else x for x in a])
INVERT = "spatialgan.cli.invert:main"
for what, make in [("a FIFO", _fifo), ("a folder", lambda env: env.tmp), ("garbage", lambda env: env.file("g.png", "x")),
                   ("missing", lambda env: env.tmp / "none.png")]:
    _cli_case(f"invert photo {what}", INVERT, lambda env, m=make: [str(m(env)), "--model", str(env.checkpoint),
                                                                    "--out", str(env.tmp / "never"), "--steps", "1"])
_cli_case("invert --steps 0", INVERT, lambda env: ["p.png", "--model", str(env.checkpoint), "--out", "x", "--steps", "0"])
IMPORT = "spatialgan.cli.importer:main"
for what, make in [("a FIFO", _fifo), ("a folder", lambda env: env.tmp), ("garbage", lambda env: env.file("g.pkl", "x")),
                   ("missing", lambda env: env.tmp / "none.pkl")]:
    _cli_case(f"import {what}", IMPORT, lambda env, m=make: [str(m(env)), "--out", str(env.tmp / "never.safetensors")])
_cli_case("import --out .txt", IMPORT, lambda env: [str(env.file("g.pkl", "x")), "--out", str(env.tmp / "o.txt")],
          ".safetensors")
INFO = "spatialgan.cli.info:main"
for what, make in [("a FIFO", _fifo), ("a folder", lambda env: env.tmp), ("garbage", lambda env: env.file("g.pkl", "x")),
                   ("a truncated checkpoint", _cut(0.5))]:
    _cli_case(f"info {what}", INFO, lambda env, m=make: [str(m(env))])


_cli_case("info of a checkpoint whose config is a list", INFO,
          lambda env: [str(_rewrite_checkpoint(env, lambda t, m: (t, {**m, "generator": "[]"})))], "not an object")
LONG = "n" * 300
_cli_case("sample -c a name of 300 bytes", SAMPLE, lambda env: ["-c", str(env.tmp / (LONG + ".safetensors")), "--out",
                                                               str(env.tmp / "never.png")], "File name too long")
_cli_case("edit -c a name of 300 bytes", EDIT, lambda env: ["-c", str(env.tmp / (LONG + ".pkl")), "--drag",
                                                           "10,12:18,12", "--out", str(env.tmp / "never")], "")
_cli_case("invert a photo named with 300 bytes", INVERT, lambda env: [str(env.tmp / (LONG + ".png")), "--model",
                                                                      str(env.checkpoint), "--out",
                                                                      str(env.tmp / "never"), "--steps", "1"], "")
_cli_case("train new onto a file", TRAIN, lambda env: ["new", str(env.file("run", "x")), "--no-progress"], "is a file")
_cli_case("train new under a file", TRAIN, lambda env: ["new", str(env.file("plain", "x") / "run"), "--no-progress"],
          "not a folder")
_cli_case("train new in a read-only place", TRAIN, lambda env: ["new", "/proc/spatialgan-run", "--no-progress"], "")
for channels in ("", "a", "0,0", "8,-1", "1,2,3,4,5,6,7", "99999"):
    _cli_case(f"train-seg --channels {channels!r}", METRICS,
              lambda env, c=channels: ["train-seg", "--channels", c, "--out", str(env.tmp / "never.safetensors")],
              "--channels")
_cli_case("train-seg --out a folder", METRICS, lambda env: ["train-seg", "--out", str(env.tmp)], "folder")
_cli_case("train-seg --out .txt", METRICS, lambda env: ["train-seg", "--out", str(env.tmp / "s.txt")], ".safetensors")
GUI = "app.main:main"
_cli_case("gui --screenshot a folder", GUI, lambda env: ["--screenshot", str(env.tmp)], "folder")
_cli_case("gui --screenshot .jpg", GUI, lambda env: ["--screenshot", str(env.tmp / "s.jpg")], ".png")
_cli_case("gui --dump-dir under a file", GUI, lambda env: ["--dump-dir", str(env.file("plain", "x") / "d")],
          "not a folder")
_cli_case("gui --dump-dir a file", GUI, lambda env: ["--dump-dir", str(env.file("plain", "x"))], "is a file")
_cli_case("gui --session missing", GUI, lambda env: ["--session", str(env.tmp / "none.json")], "does not exist")


def _os_refusal(env: Env) -> None:
    """Whatever the system refuses (an unreadable file as another user, a read-only disk), a command says it in
    one line: run_cli turns an OSError from anywhere into "cannot use FILE: reason"."""
    from spatialgan.cli.common import run_cli

    def body() -> int:
        raise PermissionError(13, "Permission denied", str(env.tmp / "model.pkl"))

    env.capsys.readouterr()
    assert run_cli(body) == 2
    err = env.capsys.readouterr().err
    assert err.startswith("error: cannot use ") and "Permission denied" in err and err.count("\n") == 1, err


add("command line", "a permission refusal from anywhere", _os_refusal)


# ---- output paths and killed writes ---------------------------------------------------------------------
def _output_case(name: str, target: Callable[[Env], Path | str], *words: str) -> None:
    def run(env: Env) -> None:
        p = Presenter(env.controller(), env.worker)
        p.image = np.zeros((32, 32, 3), np.uint8)
        c = p.c
        t = target(env)
        refused(lambda: p.export_image(t), *words)
        with pytest.raises(SessionError):  # a session that cannot be saved is a session error, as one unread
            c.save_session(str(t).replace(".png", ".json") if str(t).endswith(".png") else t)
        refused(lambda: write_video(str(t).replace(".png", ".mp4") if str(t).endswith(".png") else t,
                                    [p.image, p.image]), *words)
        no_temporaries(env.tmp)
    add("output path", name, run)


_output_case("empty", lambda env: "", "")
_output_case("spaces", lambda env: "   ", "")
_output_case("a folder", lambda env: env.tmp, "folder")
_output_case("under a regular file", lambda env: env.file("plain", "keep me") / "x.png", "not a folder")
_output_case("a read-only file system", lambda env: "/proc/spatialgan-x.png", "")
_output_case("a name of 300 bytes", lambda env: env.tmp / ("x" * 300 + ".png"), "longer than")
_output_case("unknown extension", lambda env: env.tmp / "x.xyz", "ending in")


def _existing_kept(env: Env) -> None:
    """A write that fails part-way leaves the file that was there intact, and no temporary file."""
    target = env.file("keep.json", '{"kept": true}')

    def half(tmp: Path) -> None:
        tmp.write_text('{"half": ')
        raise OSError(28, "No space left on device")

    refused(lambda: write_atomic(target, half), "No space left")
    assert json.loads(target.read_text()) == {"kept": True}
    no_temporaries(env.tmp)


add("killed write", "a failing write keeps the old file", _existing_kept)


def _interrupted_kept(env: Env) -> None:
    target = env.file("keep.json", '{"kept": true}')

    def interrupted(tmp: Path) -> None:
        tmp.write_text('{"half": ')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, interrupted)
    assert json.loads(target.read_text()) == {"kept": True}
    no_temporaries(env.tmp)


add("killed write", "Ctrl-C during a write keeps the old file", _interrupted_kept)


def _stale_cleaned(dead_pid: int) -> Callable[[Env], None]:
    def run(env: Env) -> None:
        stale = env.tmp / f".old.json.{dead_pid}{TMP_SUFFIX}"
        stale.write_text("half")
        write_json_atomic(env.tmp / "new.json", {"a": 1})
        assert not stale.exists() and json.loads((env.tmp / "new.json").read_text()) == {"a": 1}
    return run


for pid in (2 ** 22 + 7, 4194000, 999999):
    add("killed write", f"a dead writer's temporary (pid {pid}) is removed", _stale_cleaned(pid))


def _live_kept(env: Env) -> None:
    live = env.tmp / f".busy.json.{os.getppid()}{TMP_SUFFIX}"
    live.write_text("being written")
    write_json_atomic(env.tmp / "new.json", {"a": 1})
    assert live.read_text() == "being written"  # another process still writing it: left alone
    live.unlink()


add("killed write", "a live writer's temporary is kept", _live_kept)


def _really_killed(env: Env) -> None:
    """A writer killed with SIGKILL in the middle of a large write: the target is untouched, and the next write
    into the folder removes the temporary file it left."""
    target = env.file("model.json", '{"old": true}')
    code = ("import sys, time\nsys.path.insert(0, %r)\nfrom spatialgan.files import write_atomic\n"
            "def slow(tmp):\n    f = open(tmp, 'w'); f.write('x' * 1000); f.flush(); print('writing', flush=True)\n"
            "    time.sleep(60)\n"
            "write_atomic(%r, slow)\n") % (str(ROOT), str(target))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    proc.kill()
    proc.wait(10)
    assert list(env.tmp.glob(f"*{TMP_SUFFIX}")), "the killed writer left its temporary file"
    assert json.loads(target.read_text()) == {"old": True}
    write_json_atomic(env.tmp / "other.json", {"b": 2})
    no_temporaries(env.tmp)


add("killed write", "SIGKILL mid-write", _really_killed)


def _permissions(env: Env) -> None:
    umask = os.umask(0o027)
    try:
        for write in (lambda p: write_json_atomic(p / "a.json", {}), lambda p: save_checkpoint(p / "m.safetensors",
                                                                                                 tiny_models()[0]),
                      lambda p: write_video(p / "v.mp4", [np.zeros((8, 8, 3), np.uint8)] * 2)):
            write(env.tmp)
    finally:
        os.umask(umask)
    for name in ("a.json", "m.safetensors", "v.mp4"):
        assert (env.tmp / name).stat().st_mode & 0o777 == 0o640, name


add("killed write", "files get the user's permissions", _permissions)


# ---- drag points and devices ----------------------------------------------------------------------------
def _drag_case(name: str, handles: Any, targets: Any, mask: Any = None) -> None:
    def run(env: Env) -> None:
        G = env.worker.G
        ws = G.seed_ws(3, 0.7)
        spec = G.default_layout(3)
        refused(lambda: DragSession(G, ws, spec, handles, targets, mask, DragConfig(mode="hybrid", max_steps=2)))
    add("drag points", name, run)


for name, h, t in [("NaN handle", [(math.nan, 3.0)], [(5.0, 5.0)]), ("inf target", [(3.0, 3.0)], [(math.inf, 5.0)]),
                   ("outside", [(3.0, 3.0)], [(99.0, 5.0)]), ("negative", [(-1.0, 3.0)], [(5.0, 5.0)]),
                   ("same point", [(3.0, 3.0)], [(3.0, 3.0)]), ("no points", [], []),
                   ("more handles", [(3.0, 3.0), (4.0, 4.0)], [(9.0, 9.0)]), ("a triple", [(3.0, 3.0, 1.0)], [(9.0, 9.0)]),
                   ("strings", [("a", "b")], [(9.0, 9.0)])]:
    _drag_case(name, h, t)
_drag_case("mask of the wrong shape", [(3.0, 3.0)], [(9.0, 9.0)], torch.ones(7, 7))


def _drag_ws(shape: tuple[int, ...]) -> Callable[[Env], None]:
    def run(env: Env) -> None:
        G = env.worker.G
        refused(lambda: DragSession(G, torch.zeros(shape), G.default_layout(3), [(3.0, 3.0)], [(9.0, 9.0)]), "w+")
    return run


for shape in ((1, 4, 8, 31), (1, 1, 8, 32), (4, 8, 32), (2, 4, 8, 32)):
    add("drag points", f"w+ of shape {shape}", _drag_ws(shape))
_drag_case("mask with NaN", [(3.0, 3.0)], [(9.0, 9.0)], torch.full((32, 32), math.nan))
for field, value in [("r1", math.nan), ("r1", -3.0), ("r2", 0), ("r2", math.inf), ("stop_distance", math.nan),
                     ("stop_distance", -1.0), ("stop_distance", 0.0), ("mask_weight", math.nan), ("mask_weight", -1.0),
                     ("hybrid_radius", math.nan), ("hybrid_radius", -0.1), ("alpha", math.nan), ("alpha", 5.0),
                     ("lr", math.nan), ("lr", 0.0), ("centre_lr", -1.0), ("max_steps", 0), ("max_steps", 2.5),
                     ("max_steps", 10 ** 9), ("free_layers", 0), ("mode", "fast"), ("carry_resolution", 3),
                     ("carry_resolution", 0), ("carry_resolution", 16.0), ("carry_resolution", True)]:
    add("drag settings", f"{field}={value}", lambda env, f=field, v=value: refused(lambda: DragConfig(**{f: v}), f))
for name in ("meta", "xla", "cuda:3", "mps", "nonsense", "", "cpu:x", "\x1b[2Jclear"):
    add("device", f"device {name!r}", lambda env, n=name: refused(lambda: pick_device(n) if n else
                                                                  (_ for _ in ()).throw(SpatialGANError("empty"))))


# ---- the tests ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model(tmp_path_factory):
    G, _ = tiny_models("sel_indoor", "multi", seed=0)
    path = save_checkpoint(tmp_path_factory.mktemp("fuzzmodel") / "tiny.safetensors", G)
    worker = Worker(G, torch.device("cpu"), str(path))
    yield worker, path
    worker.close()


def _alarm(signum: int, frame: Any) -> None:
    raise TimeoutError(f"hung for {ALARM_S} s")


def test_the_fuzz_covers_enough() -> None:
    kinds = Counter(c.kind for c in CASES)
    print(f"{len(CASES)} fuzz cases: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    assert len(CASES) >= 300 and len({(c.kind, c.name) for c in CASES}) == len(CASES)


@pytest.mark.parametrize("fuzz", CASES, ids=[f"{c.kind}: {c.name}" for c in CASES])
def test_fuzz(fuzz: Case, model, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    worker, checkpoint = model
    kept = checkpoint.read_bytes()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(ALARM_S)
    try:
        fuzz.run(Env(tmp_path, worker, checkpoint, capsys))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert checkpoint.read_bytes() == kept, "an input file was changed"
    if fuzz.kind not in ("killed write",):
        no_temporaries(tmp_path)
