"""Atomic writes: a file is either whole or absent, never half written, and readable by all;
cached tables are computed once per key."""
import os
import stat

import pandas as pd
import pytest

from icm_utils.core.io import atomic_write, atomic_write_bytes, atomic_write_text, cached_tables


def _failing_writer(f):
    f.write(b"half a file")
    raise RuntimeError("disk full")


def test_a_failing_writer_leaves_no_file_and_no_temp_file(tmp_path):
    """An exception inside the writer propagates; the folder is left as it was (empty)."""
    target = tmp_path / "sub" / "table.csv"
    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, _failing_writer)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_a_failing_writer_keeps_the_previous_file_whole(tmp_path):
    """Overwriting an existing file fails without touching it (also on KeyboardInterrupt)."""
    target = tmp_path / "done.json"
    atomic_write_text(target, '{"old": 1}')

    def interrupted(f):
        f.write(b"{")
        raise KeyboardInterrupt

    for writer, error in ((_failing_writer, RuntimeError), (interrupted, KeyboardInterrupt)):
        with pytest.raises(error):
            atomic_write(target, writer)
        assert target.read_text() == '{"old": 1}'
        assert [p.name for p in tmp_path.iterdir()] == ["done.json"]


def test_a_successful_write_is_readable_with_mode_644(tmp_path):
    """The bytes land at the path (parents created) with mode 0o644, not mkstemp's 0o600."""
    target = tmp_path / "a" / "b" / "blob.bin"
    atomic_write_bytes(target, b"\x00\x01abc")
    assert target.read_bytes() == b"\x00\x01abc"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
    atomic_write_text(target, "second")  # replaces, leaves no temp file beside it
    assert target.read_text() == "second"
    assert [p.name for p in target.parent.iterdir()] == ["blob.bin"]


def test_cached_tables_compute_once_per_key_and_again_when_it_changes(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"scores": pd.DataFrame({"seed": ["0-1", "0-2"], "value": [0.1, 0.25]})}
    key = {"runs": [["a", 12.5]], "n_units": 200}
    first = cached_tables(tmp_path, key, compute, {"scores": {"seed": str}})
    again = cached_tables(tmp_path, dict(key), compute, {"scores": {"seed": str}})
    assert len(calls) == 1
    pd.testing.assert_frame_equal(first["scores"], again["scores"])
    assert list(again["scores"]["seed"]) == ["0-1", "0-2"]  # pairs stay strings
    cached_tables(tmp_path, {**key, "n_units": 50}, compute)
    assert len(calls) == 2
    (tmp_path / "key.json").unlink()  # a write stopped before its key: computed again
    cached_tables(tmp_path, {**key, "n_units": 50}, compute)
    assert len(calls) == 3
