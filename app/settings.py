"""Where the editor saves what the user exports, remembered between runs. No Dear PyGui here.

Exports and sessions go to a folder of the user's (not the folder the editor was started from, which is often
the repository): the last folder written to, else ~/Pictures/SpatialGAN (or ~/SpatialGAN without a Pictures
folder). A name typed without a folder lands there; a full path is used as typed and its folder remembered.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from spatialgan.errors import SpatialGANError
from spatialgan.files import read_json_object, write_json_atomic


def config_dir() -> Path:
    """`$XDG_CONFIG_HOME/spatialgan`, else ~/.config/spatialgan."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "spatialgan"


def default_folder() -> Path:
    pictures = Path.home() / "Pictures"
    return pictures / "SpatialGAN" if pictures.is_dir() else Path.home() / "SpatialGAN"


def shown(folder: Path) -> str:
    """A folder as the Files panel shows it: ~ for the home folder."""
    try:
        return "~/" + str(folder.relative_to(Path.home()))
    except ValueError:
        return str(folder)


@dataclass
class Settings:
    folder: Path

    @classmethod
    def load(cls) -> "Settings":
        """The remembered settings; defaults when there are none or the file is damaged (never an error)."""
        try:
            data = read_json_object(config_dir() / "editor.json", "editor settings")
            folder = data.get("folder")
            if isinstance(folder, str) and folder and len(folder) < 4096:
                return cls(Path(folder))
        except SpatialGANError:
            pass
        return cls(default_folder())

    def save(self) -> None:
        try:
            write_json_atomic(config_dir() / "editor.json", {"folder": str(self.folder)}, "editor settings")
        except SpatialGANError:
            pass  # remembering the folder is a convenience; a read-only home must not break an export

    def output_path(self, name: str) -> Path:
        """Where a typed output name is written: as typed when it names a folder, else in `folder`."""
        name = name.strip()
        if not name:
            raise SpatialGANError("type a file name first")
        p = Path(name).expanduser()
        return p if p.is_absolute() or p.parent != Path(".") else self.folder / p

    def input_path(self, name: str) -> Path:
        """A typed file to read: as typed when it exists there (or names a folder), else in `folder`."""
        name = name.strip()
        if not name:
            raise SpatialGANError("type a file name first")
        p = Path(name).expanduser()
        if p.is_absolute() or p.exists() or p.parent != Path("."):
            return p
        return self.folder / p

    def use(self, folder: Path) -> None:
        """Make `folder` the default for exports and sessions, remembered for the next start."""
        folder = folder.expanduser().resolve()
        if folder != self.folder:
            self.folder = folder
            self.save()

    def remember(self, written: Path) -> None:
        """After a write: its folder becomes the default for the next one."""
        self.use(written.expanduser().resolve().parent)
