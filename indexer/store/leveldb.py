"""The LevelDB binding, imported here and nowhere else: plyvel where it publishes wheels
(CPython 3.11 and 3.12), plyvel-next elsewhere (the same API under the import name
`plyvel_next`, with wheels for 3.12 to 3.14), as pyproject.toml chooses per Python version.
"""

from __future__ import annotations

import importlib
from typing import Any


def _binding() -> Any:
    try:
        return importlib.import_module("plyvel_next")
    except ImportError:
        return importlib.import_module("plyvel")


plyvel: Any = _binding()  # the module; its classes are used as plyvel.DB, plyvel.Error, ...
