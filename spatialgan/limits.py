"""Bounds on the numbers users and files give us, shared by every command, the editor and the file readers."""

from __future__ import annotations

import math
from typing import Any

MAX_SEED = 2 ** 31 - 1  # seeds fit the editor's 32-bit integer field and every seeding API we call


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool); an int too large for a float is not one (math.isfinite would raise)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False
