"""Reading and writing the files users hand us, so that no file can break a command or the editor.

Reading: `read_bytes`/`read_text`/`read_json` look before they open (a FIFO would block forever, a folder or a
device is not a file), cap the size, and turn every failure (missing, unreadable, not UTF-8, not JSON, nested
too deeply) into one `FileError` line naming the file.

Writing: `write_atomic` checks the target first (empty, a folder, under a regular file, an unknown extension),
writes beside it under a temporary name and renames, so a killed write never leaves half a file under the
user's name. Temporary files carry the writer's pid: the next write into the same folder removes those of
writers that are gone. Files get the user's normal permissions (umask), not a temporary file's 0600.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any, Callable, Iterable

from .errors import SpatialGANError, clean_text

TMP_SUFFIX = ".spatialgan-tmp"
MAX_JSON_BYTES = 64 * 2 ** 20  # sessions with a refined 1024 px w+ are a few hundred kB; 64 MB is absurd
MAX_JSON_DEPTH = 64  # our files nest at most ~6 levels; Python's parser recurses, so a deep file must stop early
MAX_NAME = 255  # bytes of one path component on common file systems


class FileError(SpatialGANError, ValueError):
    """A file cannot be read or written as asked; the message names it and says why."""


def _show(path: os.PathLike | str) -> str:
    return clean_text(str(path), 200)


def check_regular_file(path: Path, what: str) -> os.stat_result:
    """The file's stat if it is a regular file; `FileError` otherwise (never opens it: a FIFO blocks)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise FileError(f"{what} {_show(path)} does not exist") from None
    except OSError as exc:
        raise FileError(f"cannot read {what} {_show(path)}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise FileError(f"{what} {_show(path)} is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise FileError(f"{what} {_show(path)} is not a regular file (a pipe, socket or device)")
    return st


def read_bytes(path: str | os.PathLike, what: str = "file", limit: int = MAX_JSON_BYTES) -> bytes:
    p = Path(path)
    if not str(path):
        raise FileError(f"no {what} given (the path is empty)")
    st = check_regular_file(p, what)
    if st.st_size > limit:
        raise FileError(f"{what} {_show(p)} is {st.st_size / 2 ** 20:.0f} MB; at most {limit / 2 ** 20:.0f} MB "
                        f"is expected of it")
    try:
        with open(p, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise FileError(f"cannot read {what} {_show(p)}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise FileError(f"{what} {_show(p)} is larger than {limit / 2 ** 20:.0f} MB")
    return data


def read_text(path: str | os.PathLike, what: str = "file", limit: int = MAX_JSON_BYTES) -> str:
    data = read_bytes(path, what, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileError(f"{what} {_show(path)} is not UTF-8 text (byte {exc.start}); is it the right file?") from None


def json_depth_ok(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether brackets nest at most `limit` deep (strings skipped): checked before parsing, since a file of
    100000 '[' makes Python's parser recurse until it fails."""
    depth, in_str, escaped = 0, False, False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def parse_json(text: str, what: str = "JSON") -> Any:
    """`json.loads` with one clear error for bad or deeply nested JSON; NaN and Infinity are refused."""
    if not json_depth_ok(text):
        raise FileError(f"{what} nests more than {MAX_JSON_DEPTH} levels deep; it is not one of our files")

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        return json.loads(text, parse_constant=no_constants)
    except (ValueError, RecursionError) as exc:
        raise FileError(f"{what} is not valid JSON ({clean_text(str(exc), 120)})") from None


def read_json(path: str | os.PathLike, what: str = "JSON file", limit: int = MAX_JSON_BYTES) -> Any:
    return parse_json(read_text(path, what, limit), f"{what} {_show(path)}")


def read_json_object(path: str | os.PathLike, what: str = "JSON file") -> dict[str, Any]:
    data = read_json(path, what)
    if not isinstance(data, dict):
        raise FileError(f"{what} {_show(path)} must hold a JSON object {{...}}, not a {type(data).__name__}")
    return data


def check_output(path: str | os.PathLike, suffixes: Iterable[str] | None = None, what: str = "output file") -> Path:
    """The path as a Path if a file can be written there; `FileError` naming the problem otherwise. Missing
    parent folders are fine (they are created); a parent that is a regular file is not."""
    if not str(path).strip():
        raise FileError(f"no {what} given (the path is empty)")
    p = Path(path).expanduser()
    allowed = tuple(s.lower() for s in suffixes) if suffixes is not None else None
    if any(len(part.encode("utf-8", "surrogateescape")) > MAX_NAME for part in p.parts):
        raise FileError(f"{what}: a name in {_show(p)} is longer than {MAX_NAME} bytes")
    if p.is_dir():
        raise FileError(f"{what} {_show(p)} is a folder; give a file name"
                        + (f" ending in {' or '.join(allowed)}" if allowed else ""))
    if allowed and p.suffix.lower() not in allowed:
        raise FileError(f"{what} {_show(p)}: give a name ending in {' or '.join(allowed)}")
    _check_parents(p, what)
    if p.exists() and not p.is_file():
        raise FileError(f"{what} {_show(p)} exists and is not a regular file")
    return p


def check_output_folder(path: str | os.PathLike, what: str = "output folder") -> Path:
    """The path as a Path if a folder can be made (or is) there; `FileError` naming the problem otherwise."""
    if not str(path).strip():
        raise FileError(f"no {what} given (the path is empty)")
    p = Path(path).expanduser()
    if any(len(part.encode("utf-8", "surrogateescape")) > MAX_NAME for part in p.parts):
        raise FileError(f"{what}: a name in {_show(p)} is longer than {MAX_NAME} bytes")
    if p.exists() and not p.is_dir():
        raise FileError(f"{what} {_show(p)} is a file; give a folder")
    _check_parents(p, what)
    return p


def make_folder(path: str | os.PathLike, what: str = "output folder") -> Path:
    """`check_output_folder`, then make it (and its parents); an OS refusal becomes a `FileError`."""
    p = check_output_folder(path, what)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FileError(f"cannot make {what} {_show(p)}: {exc.strerror or exc}") from None
    return p


def _check_parents(p: Path, what: str) -> None:
    """The nearest existing parent of `p` must be a writable folder."""
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise FileError(f"{what} {_show(p)}: {_show(parent)} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise FileError(f"cannot write {what} {_show(p)}: folder {_show(parent)} is not writable")
            break


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process: leave its file alone
    return True


def clean_stale(folder: Path) -> list[Path]:
    """Remove temporary files of writers in `folder` that were killed mid-write; returns what was removed."""
    removed = []
    try:
        entries = list(folder.glob(f".*{TMP_SUFFIX}"))
    except OSError:
        return removed
    for tmp in entries:
        try:
            pid = int(tmp.name[: -len(TMP_SUFFIX)].rsplit(".", 1)[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            try:
                tmp.unlink()
                removed.append(tmp)
            except OSError:
                pass
    return removed


def temp_name(path: Path) -> Path:
    """The temporary name a write of `path` goes through: hidden, beside it, with this process's pid."""
    return path.with_name(f".{path.name[:200]}.{os.getpid()}{TMP_SUFFIX}")


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None], suffixes: Iterable[str] | None = None,
                 what: str = "output file") -> Path:
    """Check `path`, call `write(tmp)` and rename tmp to `path`: readers see the old file or the new one, never
    half of one. Any failure removes tmp and raises `FileError` naming the file."""
    p = check_output(path, suffixes, what)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FileError(f"cannot create folder {_show(p.parent)}: {exc.strerror or exc}") from None
    clean_stale(p.parent)
    tmp = temp_name(p)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # some writers (mkstemp-based ones) make 0600 files
        os.replace(tmp, p)
    except OSError as exc:
        raise FileError(f"cannot write {what} {_show(p)}: {exc.strerror or exc}") from None
    finally:
        if tmp.exists():
            try:
                tmp.unlink()
            except OSError:
                pass
    return p


def write_text_atomic(path: str | os.PathLike, text: str, suffixes: Iterable[str] | None = None,
                      what: str = "output file") -> Path:
    return write_atomic(path, lambda t: t.write_text(text, encoding="utf-8"), suffixes, what)


def write_json_atomic(path: str | os.PathLike, data: Any, what: str = "JSON file") -> Path:
    return write_text_atomic(path, json.dumps(data, indent=1, allow_nan=False) + "\n", (".json",), what)


def _umask() -> int:
    """The process's umask: read from /proc where it is shown (Linux), else set and restored at once."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
