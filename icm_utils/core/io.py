"""Atomic file writes: a temp file in the same folder, fsync, os.replace. A crash never leaves
half a file, so an interrupted run, cache or table is either whole or absent."""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO

import pandas as pd


def atomic_write(path: Path | str, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(f)`` on a temp file in the same folder, then os.replace it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results should be readable like any file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def cached_tables(folder: Path | str, key: Mapping, compute: Callable[[], Mapping[str, pd.DataFrame]],
                  dtypes: Mapping[str, Mapping] | None = None) -> dict[str, pd.DataFrame]:
    """Tables computed once per ``key`` (what they were computed from, JSON) and kept in
    ``folder`` as ``<name>.csv`` beside ``key.json``: an interrupted or repeated evaluation
    does not compute them again. ``dtypes``: read_csv dtypes per table name. The key is
    written last, so a stopped write leaves no key and the tables are computed again."""
    folder, dtypes = Path(folder), dtypes or {}
    key_file = folder / "key.json"
    if not (key_file.exists() and json.loads(key_file.read_text()) == json.loads(json.dumps(key))):
        tables = compute()
        for name, table in tables.items():
            atomic_write_text(folder / f"{name}.csv", table.to_csv(index=False))
        atomic_write_text(key_file, json.dumps(key, indent=1))
        names = list(tables)
    else:
        names = [f.stem for f in sorted(folder.glob("*.csv"))]
    return {n: pd.read_csv(folder / f"{n}.csv", dtype=dtypes.get(n)) for n in names}
