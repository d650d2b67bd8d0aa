"""The editor's state as plain data, and its session-file form. No Dear PyGui here, and no model is run.

Everything an edit can change lives in `Edit` (seed, psi, per-code seeds, heatmap spec, refined w+, points,
mask), so an undo snapshot is one deep copy of it and a session file is its JSON form plus the model path.
"""

from __future__ import annotations

import base64
import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from draggan import DragConfig
from spatialgan.limits import MAX_SEED, is_number
from spatialgan.errors import SpatialGANError, clean_text
from spatialgan.files import FileError, read_json
from spatialgan.heatmaps.spec import LEGACY_HOME, HeatmapSpec

from .messages import LatentSpec, ObjectMove, Point

SESSION_FORMAT = "spatialgan-session"
SESSION_VERSION = 1


class SessionError(SpatialGANError, ValueError):
    """A session file is missing, not JSON, or has a bad field; the message names which."""


@dataclass
class Edit:
    """One undoable state of the picture."""

    seed: int = 0
    psi: float = 0.7
    code_seeds: list[int | None] = field(default_factory=list)  # per style code; None keeps the base code
    spec: HeatmapSpec | None = None
    ws_override: np.ndarray | None = None  # w+ after a DragGAN refine, (1, K, num_ws, w_dim) float32
    handles: list[Point] = field(default_factory=list)  # pixels at the model's resolution
    targets: list[Point] = field(default_factory=list)
    mask: np.ndarray | None = None  # (R, R) bool: True where a refine may change the image
    carry: bool = True  # moved objects keep their look from home; off: the model redraws them where they go
    # each object's home (absolute x, y): where the seed put it, the look it keeps when moved; None: no heatmaps
    homes: list[Point] | None = None
    label: int | None = None  # the class of a conditional model (None: the first, or no classes)
    objects: list[ObjectMove] = field(default_factory=list)  # objects moved or removed by their features, in order

    def latent(self) -> LatentSpec:
        return LatentSpec(self.seed, self.psi, tuple(self.code_seeds), self.ws_override, self.label)

    def copy(self) -> "Edit":
        return copy.deepcopy(self)

    def carried_homes(self) -> tuple[Point, ...] | None:
        """The homes the objects are carried from, or None when the carry is off."""
        return tuple(map(tuple, self.homes)) if self.carry and self.homes is not None else None  # type: ignore[arg-type]


@dataclass
class AppState:
    """Everything the view shows. `edit` is undoable; the rest is view state."""

    model_path: str
    edit: Edit
    resolution: int
    num_codes: int = 1
    selected: tuple[int, int] | None = None  # (level, index) of the selected centre
    undo_stack: list[Edit] = field(default_factory=list)
    redo_stack: list[Edit] = field(default_factory=list)
    dirty: bool = False  # unsaved changes since the last save/load
    generation: int = 0  # bumped on every change that needs a new render
    # the DragGAN refine's settings: one set of defaults (draggan.DragConfig), changed by the refine controls
    refine: DragConfig = field(default_factory=DragConfig)
    ws_shape: tuple[int, int] | None = None  # (num_ws, w_dim) of the model: a session's w+ must have it
    saved_to: str = ""  # where the edit was last saved or loaded from ("" : never)
    selection: np.ndarray | None = None  # (r, r) bool on the cluster grid: the object the object tool selected


# ---- session files ------------------------------------------------------------------------------------
def mask_to_rle(mask: np.ndarray) -> dict[str, Any]:
    """Run lengths of a bool mask in row-major order, starting with a run of False."""
    flat = np.asarray(mask, bool).ravel()
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        runs = [0] + runs
    return {"shape": list(mask.shape), "runs": runs}


def mask_from_rle(data: Any, resolution: int, name: str = "mask") -> np.ndarray:
    """A mask of `resolution` x `resolution` from its run lengths (`mask_to_rle`)."""
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list) or not isinstance(data.get("shape"), list):
        raise SessionError(f"{name} must be an object with 'shape' and 'runs' (run lengths, first run False)")
    shape = tuple(data["shape"])
    if shape != (resolution, resolution):
        raise SessionError(f"{name} has shape {list(shape)} but must be {resolution}x{resolution}")
    runs = data["runs"]
    if not all(isinstance(r, int) and not isinstance(r, bool) and r >= 0 for r in runs) or sum(runs) != resolution ** 2:
        raise SessionError(f"{name}.runs must be non-negative integers summing to {resolution ** 2}")
    values = np.arange(len(runs)) % 2 == 1
    return np.repeat(values, runs).reshape(shape)


def _array_to_json(a: np.ndarray) -> dict[str, Any]:
    a = np.ascontiguousarray(a, np.float32)
    return {"shape": list(a.shape), "float32_base64": base64.b64encode(a.tobytes()).decode("ascii")}


def _array_from_json(data: Any) -> np.ndarray:
    try:
        shape = tuple(int(s) for s in data["shape"])
        raw = base64.b64decode(data["float32_base64"], validate=True)
        return np.frombuffer(raw, np.float32).reshape(shape).copy()
    except (KeyError, TypeError, ValueError) as exc:
        raise SessionError(f"ws_override must hold 'shape' and 'float32_base64' of matching size ({exc})") from None


def session_to_dict(state: AppState) -> dict[str, Any]:
    e = state.edit
    return {
        "format": SESSION_FORMAT, "version": SESSION_VERSION, "model_path": state.model_path,
        "resolution": state.resolution, "seed": e.seed, "psi": e.psi, "code_seeds": list(e.code_seeds),
        "spec": e.spec.to_dict() if e.spec is not None else None,
        "handles": [list(p) for p in e.handles], "targets": [list(p) for p in e.targets],
        "mask": mask_to_rle(e.mask) if e.mask is not None else None,
        "ws_override": _array_to_json(e.ws_override) if e.ws_override is not None else None,
        "carry": e.carry, "homes": [list(h) for h in e.homes] if e.homes is not None else None,
        "label": e.label,
        "objects": [{"mask": mask_to_rle(o.mask), "shift": list(o.shift) if o.shift is not None else None}
                    for o in e.objects],
    }


def _points(data: Any, name: str, resolution: int | None) -> list[Point]:
    """[x, y] pairs: pixels inside the image for a `resolution`, finite image units without one."""
    if not isinstance(data, list):
        raise SessionError(f"{name} must be a list of [x, y] pairs")
    out = []
    for i, p in enumerate(data):
        if (not isinstance(p, list) or len(p) != 2
                or not all(is_number(v) for v in p)):
            raise SessionError(f"{name}[{i}] must be [x, y], got {p!r}")
        if resolution is not None and not all(0 <= v <= resolution - 1 for v in p):
            raise SessionError(f"{name}[{i}] = {p} lies outside the {resolution}x{resolution} image")
        out.append((float(p[0]), float(p[1])))
    return out


# every field a session file has (`session_to_dict`), and the time an autosave adds
SESSION_KEYS = frozenset({"format", "version", "model_path", "resolution", "seed", "psi", "code_seeds", "spec",
                          "handles", "targets", "mask", "ws_override", "carry", "homes", "label", "objects",
                          "saved_at"})


def edit_from_dict(data: Any, resolution: int, num_codes: int, ws_shape: tuple[int, int] | None = None,
                   check_layout: Callable[[HeatmapSpec], None] | None = None) -> tuple[str, Edit]:
    """Parse a session dict for a model of this resolution / code count (and, when given, w+ shape and layout
    check); `SessionError` names the bad field, so a session that does not fit is refused when read, not drawn."""
    if not isinstance(data, dict):
        raise SessionError(f"a session must be a JSON object, got {type(data).__name__}")
    if data.get("format") != SESSION_FORMAT:
        raise SessionError(f"not a SpatialGAN session: 'format' is {data.get('format')!r}, expected {SESSION_FORMAT!r}")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version != SESSION_VERSION:
        raise SessionError(f"session version {clean_text(repr(version), 40)} is not supported (expected "
                           f"{SESSION_VERSION})")
    unknown = sorted(set(data) - SESSION_KEYS)
    if unknown:  # a misspelt field would otherwise be dropped without a word
        raise SessionError(f"unknown field(s) {clean_text(', '.join(map(str, unknown)), 120)} in the session")
    if data.get("resolution", resolution) != resolution:
        raise SessionError(f"the session was made with a {data.get('resolution')} px model, this one is {resolution} px")
    seed, psi = data.get("seed"), data.get("psi")
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise SessionError(f"seed must be an integer in 0..{MAX_SEED}, got {clean_text(repr(seed), 60)}")
    if not is_number(psi) or not -2 <= psi <= 2:
        raise SessionError(f"psi must be a number in [-2, 2], got {psi!r}")
    code_seeds = data.get("code_seeds", [])
    if (not isinstance(code_seeds, list) or len(code_seeds) not in (0, num_codes)
            or not all(s is None or (isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_SEED)
                       for s in code_seeds)):
        raise SessionError(f"code_seeds must list {num_codes} entries, each a non-negative integer or null")
    spec = homes = None
    if data.get("spec") is not None:
        try:
            spec = HeatmapSpec.from_dict(data["spec"])
            if check_layout is not None:
                check_layout(spec)
        except SpatialGANError as exc:
            raise SessionError(f"spec: {exc}") from None
        homes = _homes(data, spec)
    carry = data.get("carry", True)
    if not isinstance(carry, bool):
        raise SessionError(f"carry must be true or false, got {carry!r}")
    label = data.get("label")
    if label is not None and (not isinstance(label, int) or isinstance(label, bool) or label < 0):
        raise SessionError(f"label must be a class index (a non-negative integer) or null, got {label!r}")
    mask = mask_from_rle(data["mask"], resolution) if data.get("mask") is not None else None
    ws = _array_from_json(data["ws_override"]) if data.get("ws_override") is not None else None
    want = (1, num_codes, *ws_shape) if ws_shape is not None else None
    if ws is not None and (ws.ndim != 4 or ws.shape[:2] != (1, num_codes) or (want and ws.shape != want)):
        raise SessionError(f"ws_override has shape {list(ws.shape)}, this model needs "
                           f"{list(want) if want else [1, num_codes, 'num_ws', 'w_dim']}")
    if ws is not None and not np.isfinite(ws).all():
        raise SessionError("ws_override holds NaN or infinity")
    handles = _points(data.get("handles", []), "handles", resolution)
    targets = _points(data.get("targets", []), "targets", resolution)
    if len(targets) > len(handles) or len(handles) > len(targets) + 1:
        raise SessionError(f"{len(handles)} handles but {len(targets)} targets: each handle needs a target")
    model_path = data.get("model_path", "")
    if not isinstance(model_path, str):
        raise SessionError("model_path must be a string")
    edit = Edit(seed=seed, psi=float(psi), code_seeds=list(code_seeds) or [None] * num_codes, spec=spec,
                ws_override=ws, handles=handles, targets=targets, mask=mask, carry=carry, homes=homes, label=label,
                objects=_objects(data.get("objects", []), resolution))
    return model_path, edit


def _objects(data: Any, resolution: int) -> list[ObjectMove]:
    """Moved objects: each a region (run lengths on a square grid no finer than the picture) and a shift [dx, dy]
    in image units, or null for a removed object."""
    if not isinstance(data, list):
        raise SessionError("objects must be a list of {mask, shift}")
    out = []
    for i, o in enumerate(data):
        if not isinstance(o, dict) or set(o) != {"mask", "shift"}:
            raise SessionError(f"objects[{i}] must hold exactly 'mask' and 'shift'")
        shape = o["mask"].get("shape") if isinstance(o["mask"], dict) else None
        side = shape[0] if isinstance(shape, list) and shape and isinstance(shape[0], int) else 0
        if not 1 <= side <= resolution:
            raise SessionError(f"objects[{i}].mask must be a square grid of at most {resolution} px")
        mask = mask_from_rle(o["mask"], side, f"objects[{i}].mask")
        shift = o["shift"]
        if shift is not None and not (isinstance(shift, list) and len(shift) == 2 and all(
                is_number(v) and abs(v) <= 2 for v in shift)):
            raise SessionError(f"objects[{i}].shift must be [dx, dy] in image units (|d| <= 2) or null")
        out.append(ObjectMove(mask, (float(shift[0]), float(shift[1])) if shift is not None else None))
    return out


def _homes(data: dict[str, Any], spec: HeatmapSpec) -> list[Point]:
    """The objects' homes: the session's "homes", or those stored in the spec's objects by earlier versions, or
    (older still) where the objects are now."""
    raw = data.get("homes")
    if raw is None:
        objects = data["spec"].get("levels", [[]])[0]
        legacy = [c.get(LEGACY_HOME) for c in objects]
        raw = legacy if all(h is not None for h in legacy) else None
    if raw is None:
        return spec.object_places()
    n = len(spec.levels[0])
    if not isinstance(raw, list) or len(raw) != n:
        raise SessionError(f"homes must list one [x, y] per object ({n}), got {raw!r}")
    return _points(raw, "homes", None)


def _session_json(path: Path) -> Any:
    try:
        return read_json(path, "session file")
    except FileError as exc:
        raise SessionError(str(exc)) from None


def named_model(path: str | os.PathLike) -> str | None:
    """The model path a session file names, or None where it names none."""
    data = _session_json(Path(path))
    wanted = data.get("model_path") if isinstance(data, dict) else None
    return wanted if isinstance(wanted, str) and wanted else None


def model_to_open(path: str | os.PathLike, current: str) -> str | None:
    """The model a session was saved with, when that is a file other than `current` and it exists: its latent and
    layout belong to that model (an inverted photo's tuned weights, say), so the editor opens it first."""
    wanted = named_model(path)
    if wanted is None or not Path(wanted).is_file():
        return None
    if current and Path(current).is_file() and Path(current).resolve() == Path(wanted).resolve():
        return None
    return wanted


def read_session(path: str | os.PathLike, resolution: int, num_codes: int, ws_shape: tuple[int, int] | None = None,
                 check_layout: Callable[[HeatmapSpec], None] | None = None) -> tuple[str, Edit]:
    path = Path(path)
    data = _session_json(path)
    try:
        return edit_from_dict(data, resolution, num_codes, ws_shape, check_layout)
    except SessionError as exc:
        raise SessionError(f"session file {path}: {exc}") from None


