"""Reading NVIDIA's network pickles (stylegan2-ada-pytorch, stylegan3, EqGAN-SA, DragGAN) as data, never as code.

Opening such a pickle the usual way imports `torch_utils.persistence`, which `exec`s the Python source stored in
the file to rebuild each network class. This reader runs nothing from the file:

- Only an allow-list of globals is resolved: the few torch and numpy functions that rebuild tensors and arrays,
  `collections.OrderedDict`, sets, dtypes, and the two persistence / EasyDict names. Anything else (`os.system`,
  `builtins.eval`, `subprocess.Popen`, a class the file names) is refused with an error naming it.
- A persistent-object record (`torch_utils.persistence._reconstruct_persistent_obj(meta)`) becomes a
  `PersistentRecord` holding the class name and the object's state: its embedded source is kept as text and
  never run.
- A plain `torch.nn` module inside a persistent one (EqGAN-SA's SEL keeps `InstanceNorm2d`, `Sequential` and
  `LeakyReLU`), which `pickle.dump` writes as an ordinary object (its class, then its `__dict__`), becomes a
  `PersistentRecord` too, without building the torch class: only the layers a StyleGAN-family network uses
  (`PLAIN_MODULES`: containers, norms, activations, pooling, resampling, dropout, identity) are read this way, so
  the importer finds parameters and buffers wherever they sit, whichever way a submodule was written.
- Tensors are rebuilt from their storages: a storage's bytes are a `torch.save` stream, read with torch's own
  weights-only loader (which also resolves only tensor types), mapped to the CPU (CUDA tensors load anywhere).
"""

from __future__ import annotations

import _compat_pickle
import collections
import io
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from ..errors import SpatialGANError
from ..files import FileError, check_regular_file


class NetworkPickleError(SpatialGANError):
    """A network pickle that cannot be read: unsafe, truncated, corrupt or of an unknown kind."""


class NoDiscriminator(NetworkPickleError):
    """A readable file whose networks include no discriminator (a generator-only export)."""


@dataclass
class PersistentRecord:
    """One persistent network object of the pickle, as data: its class name, its `__dict__` (parameters, buffers,
    submodules, constructor arguments) and the source that defined it (text, never executed)."""

    class_name: str
    state: dict[str, Any]
    module_src: str = field(default="", repr=False)
    version: int = 0

    @property
    def init_kwargs(self) -> dict[str, Any]:
        return dict(self.state.get("_init_kwargs") or {})

    @property
    def modules(self) -> dict[str, Any]:
        return dict(self.state.get("_modules") or {})

    def tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Parameters and buffers of this record and its submodules, named as `state_dict` names them."""
        out: dict[str, torch.Tensor] = {}
        for group in ("_parameters", "_buffers"):
            for name, t in (self.state.get(group) or {}).items():
                if isinstance(t, torch.Tensor):
                    out[prefix + name] = t
        for name, sub in self.modules.items():
            if isinstance(sub, PersistentRecord):
                out.update(sub.tensors(f"{prefix}{name}."))
        return out


# The plain torch.nn layers a network pickle may hold inside its persistent classes, by the module torch defines them
# in. Each holds only numbers, flags and submodules; any other torch class is refused like any other global.
PLAIN_MODULES: dict[str, tuple[str, ...]] = {
    "torch.nn.modules.container": ("Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"),
    "torch.nn.modules.instancenorm": ("InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"),
    "torch.nn.modules.batchnorm": ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d"),
    "torch.nn.modules.normalization": ("LayerNorm", "GroupNorm", "LocalResponseNorm"),
    "torch.nn.modules.activation": ("LeakyReLU", "ReLU", "ReLU6", "PReLU", "ELU", "SELU", "CELU", "GELU", "SiLU",
                                    "Mish", "Sigmoid", "Tanh", "Hardtanh", "Softplus", "Softmax"),
    "torch.nn.modules.pooling": ("AvgPool1d", "AvgPool2d", "MaxPool1d", "MaxPool2d", "AdaptiveAvgPool1d",
                                 "AdaptiveAvgPool2d", "AdaptiveMaxPool2d"),
    "torch.nn.modules.upsampling": ("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"),
    "torch.nn.modules.pixelshuffle": ("PixelShuffle", "PixelUnshuffle"),
    "torch.nn.modules.dropout": ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d"),
    "torch.nn.modules.linear": ("Identity",),
    "torch.nn.modules.flatten": ("Flatten", "Unflatten"),
}


class PlainModuleRecord(PersistentRecord):
    """A plain torch.nn module of the pickle, as data. Pickle makes it with `cls.__new__(cls)` (no constructor runs)
    and hands it its `__dict__` through `__setstate__`; the per-class subclasses only carry the class name."""

    torch_class = ""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slots), as copyreg writes objects with slots
            state = state[0]
        if not isinstance(state, dict):
            raise NetworkPickleError(f"a {self.torch_class} in the pickle has an unexpected form")
        self.class_name, self.state, self.module_src, self.version = self.torch_class, state, "", 0


def _plain_module_classes() -> dict[tuple[str, str], type]:
    return {(module, name): type(name, (PlainModuleRecord,), {"torch_class": name, "__module__": __name__})
            for module, names in PLAIN_MODULES.items() for name in names}


def _latin1_bytes(text: Any, encoding: str = "utf-8") -> bytes:
    """How protocol 2 stores bytes (`_codecs.encode(text, 'latin1')`); no other codec is taken."""
    if not isinstance(text, str) or encoding != "latin1":
        raise NetworkPickleError("the pickle encodes data in an unexpected way")
    return text.encode("latin1")


def _persistent(meta: Any) -> PersistentRecord:
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise NetworkPickleError("a persistent-object record in the pickle has an unexpected form")
    return PersistentRecord(str(meta.get("class_name")), meta["state"], str(meta.get("module_src") or ""),
                            int(meta.get("version") or 0))


def _storage_from_bytes(data: bytes) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TypedStorage deprecation notes
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad stream
        raise NetworkPickleError(f"a tensor's data in the pickle could not be read ({exc})") from None


def _rebuild_tensor(storage: Any, offset: int, size: tuple, stride: tuple, *rest: Any) -> torch.Tensor:
    t = torch.empty(0, dtype=storage.dtype)
    t.set_(storage.untyped_storage() if hasattr(storage, "untyped_storage") else storage, offset, size, stride)
    return t


def _rebuild_parameter(data: torch.Tensor, *rest: Any) -> torch.Tensor:
    return data  # a Parameter's data; whether it was trainable does not matter here


def _rebuild_from_type(func: Callable, new_type: Any, args: tuple, state: Any) -> Any:
    return func(*args)


class _EasyDict(dict):
    """dnnlib.util.EasyDict read as a plain dict."""


def _allowed() -> dict[tuple[str, str], Any]:
    import numpy as np

    allowed: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "slice"): slice,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type,
        ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
        ("torch", "Size"): torch.Size,
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent,
        ("dnnlib.util", "EasyDict"): _EasyDict,
        ("_codecs", "encode"): _latin1_bytes,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    allowed.update(_plain_module_classes())
    for dtype in ("float16", "float32", "float64", "bfloat16", "int8", "uint8", "int16", "int32", "int64", "bool"):
        allowed[("torch", dtype)] = getattr(torch, dtype)
    reconstruct, scalar = np.ndarray(0).__reduce__()[0], np.float32(0).__reduce__()[0]
    for core in ("numpy.core.multiarray", "numpy._core.multiarray"):  # numpy 1.x and 2.x spellings
        allowed[(core, "_reconstruct")] = reconstruct
        allowed[(core, "scalar")] = scalar
    return allowed


class _SafeUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BufferedIOBase) -> None:
        super().__init__(file)
        self.allowed = _allowed()

    def find_class(self, module: str, name: str) -> Any:
        # protocols 0-2 spell some modules the Python 2 way (__builtin__); pickle's own find_class maps them,
        # ours must too
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        found = self.allowed.get((module, name))
        if found is not None:
            return found
        if module.startswith("dnnlib.tflib"):
            raise NetworkPickleError(
                "this is a TensorFlow-era StyleGAN2 pickle, which this tool does not read: convert it to a PyTorch "
                "pickle first with stylegan2-ada-pytorch's legacy.py (python legacy.py --source=OLD.pkl "
                "--dest=NEW.pkl), then open NEW.pkl")
        raise NetworkPickleError(f"the pickle references {module}.{name}, which a network pickle has no reason to "
                                 "use; refusing to open it (nothing from it was run)")

    def persistent_load(self, pid: Any) -> Any:
        raise NetworkPickleError("the pickle uses persistent ids (a torch.save file?); this reader takes network "
                                 "pickles written with pickle.dump")


def read_network_pickle(path: str | Path) -> dict[str, Any]:
    """The pickle's top-level dict ({'G': ..., 'G_ema': ..., 'D': ..., ...}) with networks as `PersistentRecord`s."""
    path = Path(path)
    try:
        check_regular_file(path, "network pickle")
    except FileError as exc:
        raise NetworkPickleError(str(exc)) from None
    try:
        with open(path, "rb") as f:
            data = _SafeUnpickler(f).load()  # type: ignore[arg-type]
    except NetworkPickleError as exc:
        raise NetworkPickleError(f"{path}: {exc}") from None
    except OSError as exc:
        raise NetworkPickleError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, RuntimeError, RecursionError, OverflowError) as exc:
        raise NetworkPickleError(f"{path} is not a readable network pickle (truncated or corrupt?): "
                                 f"{type(exc).__name__}: {exc}") from None
    if not isinstance(data, dict):
        raise NetworkPickleError(f"{path} holds a {type(data).__name__}, not a network pickle's dict of networks")
    return data


def generator_record(data: dict[str, Any], path: str | Path = "the pickle") -> PersistentRecord:
    """The generator to edit: `G_ema` (the averaged weights the authors sample from), else `G`."""
    for key in ("G_ema", "G"):
        rec = data.get(key)
        if isinstance(rec, PersistentRecord):
            return rec
    keys = ", ".join(sorted(map(str, data))) or "nothing"
    raise NetworkPickleError(f"{path} has no generator (G_ema or G); it holds {keys}")
