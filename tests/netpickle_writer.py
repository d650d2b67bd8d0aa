"""Our own writer of network pickles in the structure NVIDIA's code writes (a dict of networks, each a
`torch_utils.persistence` record holding class name, source and state, tensors pickled by torch), for testing the
importer on weights whose upstream outputs are stored as numbers. No upstream code or pickle is involved.

Upstream networks also hold plain `torch.nn` layers inside their persistent classes (EqGAN-SA's SEL: InstanceNorm2d,
Sequential, LeakyReLU). Those are built here from the real torch classes, so `pickle.dump` writes them as it writes
them upstream: the class by name, then the module's `__dict__`."""

from __future__ import annotations

import collections
import pickle
import sys
import types
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

# Stands in for the source a real pickle embeds. If a reader ever executed it, the test would see the file.
EMBEDDED_SOURCE = "open(__import__('os').environ.get('NETPICKLE_MARKER', '/tmp/netpickle-ran'), 'w').write('ran')\n"


def _reconstruct_persistent_obj(meta: Any) -> Any:  # pragma: no cover - only its name is pickled
    raise AssertionError("never called")


class EasyDict(dict):
    pass


@contextmanager
def _fake_modules() -> Iterator[None]:
    """Pickle refers to functions and classes by module and name: give the names a home while writing."""
    persistence = types.ModuleType("torch_utils.persistence")
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj  # type: ignore[attr-defined]
    util = types.ModuleType("dnnlib.util")
    util.EasyDict = EasyDict  # type: ignore[attr-defined]
    saved = (_reconstruct_persistent_obj.__module__, EasyDict.__module__)
    _reconstruct_persistent_obj.__module__, EasyDict.__module__ = "torch_utils.persistence", "dnnlib.util"
    names = {"torch_utils": types.ModuleType("torch_utils"), "torch_utils.persistence": persistence,
             "dnnlib": types.ModuleType("dnnlib"), "dnnlib.util": util}
    old = {k: sys.modules.get(k) for k in names}
    sys.modules.update(names)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
        _reconstruct_persistent_obj.__module__, EasyDict.__module__ = saved


class Record:
    """A persistent network object: pickles as `_reconstruct_persistent_obj(meta)`."""

    def __init__(self, class_name: str, init_kwargs: dict | None = None) -> None:
        self.class_name = class_name
        self.state: dict[str, Any] = {
            "training": False, "_parameters": collections.OrderedDict(), "_buffers": collections.OrderedDict(),
            "_non_persistent_buffers_set": set(), "_forward_hooks": collections.OrderedDict(),
            "_modules": collections.OrderedDict(), "_init_args": (), "_init_kwargs": EasyDict(init_kwargs or {}),
        }

    def __reduce__(self) -> tuple:
        meta = {"type": "class", "version": 4, "module_src": EMBEDDED_SOURCE, "class_name": self.class_name,
                "state": self.state}
        return _reconstruct_persistent_obj, (meta,)


# The torch.nn layers upstream networks keep as plain modules, built as their code builds them. InstanceNorm2d's
# channel count is not recorded in the reference files; without affine weights or running statistics it holds no
# tensor, so any count pickles to the same structure.
TORCH_LAYERS = {
    "Sequential": lambda: torch.nn.Sequential(),
    "LeakyReLU": lambda: torch.nn.LeakyReLU(0.2),
    "InstanceNorm2d": lambda: torch.nn.InstanceNorm2d(1, affine=False),
}


def _state(node: Any) -> dict[str, Any]:
    """Where a node keeps its parameters, buffers and submodules: a record's state, a torch module's __dict__."""
    return node.state if isinstance(node, Record) else node.__dict__


def network_record(classes: dict[str, str], tensors: dict[str, np.ndarray], buffers: set[str],
                   init_kwargs: dict) -> Record:
    """A network's tree: `classes` maps module paths ("" is the root) to class names, each a persistent record
    or, for the layers in TORCH_LAYERS, a real torch module; every tensor goes to its module as a parameter, or a
    buffer when named in `buffers`."""
    nodes = {path: TORCH_LAYERS[name]() if path and name in TORCH_LAYERS
             else Record(name, init_kwargs if path == "" else None) for path, name in classes.items()}
    for path, node in nodes.items():
        if path:
            parent, _, leaf = path.rpartition(".")
            _state(nodes[parent])["_modules"][leaf] = node
    for name, value in tensors.items():
        path, _, leaf = name.rpartition(".")
        t = torch.from_numpy(np.array(value))
        if name in buffers:
            _state(nodes[path])["_buffers"][leaf] = t
        else:
            _state(nodes[path])["_parameters"][leaf] = torch.nn.Parameter(t, requires_grad=False)
    root = nodes[""]
    assert isinstance(root, Record)
    return root


def write_network_pickle(path: Path, networks: dict[str, Any], protocol: int = 4) -> Path:
    with _fake_modules(), open(path, "wb") as f:
        pickle.dump(networks, f, protocol=protocol)
    return path


def reference_network(ref: Any, meta: dict, key: str, which: str) -> Record | None:
    """Network `which` ("G", "G_ema", "D") of configuration `key` in a reference file (its `key/which/...` tensors
    and `meta[key]`'s module classes, buffers and constructor arguments), or None if the file has none."""
    m = meta[key]
    prefix = f"{key}/{which}/"
    tensors = {k[len(prefix):]: ref[k] for k in ref.files if k.startswith(prefix)}
    return network_record(m["classes"], tensors, set(m["buffers"]), m["init_kwargs"]) if tensors else None


def reference_pickle(ref: Any, meta: dict, key: str, path: Path) -> Path:
    """The generators of configuration `key` in a reference file written as a network pickle (D: None)."""
    nets = {which: reference_network(ref, meta, key, which) for which in ("G", "G_ema")}
    return write_network_pickle(path, {**{k: v for k, v in nets.items() if v is not None}, "D": None})
