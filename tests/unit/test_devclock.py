"""The dev clock's offset file: every local process follows each change the host makes."""

from __future__ import annotations

import os
from pathlib import Path

from local.devclock import DevClock


def test_a_reader_follows_two_writes_that_leave_the_same_mtime(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    host = DevClock(path)
    host.set_offset(86_400_000)  # a test moves the dev clock a day ahead
    reader = DevClock(path)  # a simulator's copy
    assert reader.offset_ms == 86_400_000
    first = os.stat(path).st_mtime_ns

    host.set_offset(0)  # and puts it back within the same tick of the file system's clock
    os.utime(path, ns=(first, first))

    assert reader.offset_ms == 0


def test_a_reader_follows_a_rewrite_in_place_within_the_same_tick(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    path.write_text('{"offsetMs": 5000}')
    reader = DevClock(path)
    assert reader.offset_ms == 5000
    mtime = os.stat(path).st_mtime_ns

    path.write_text('{"offsetMs": 7000}')  # same file (same inode), same mtime
    os.utime(path, ns=(mtime, mtime))

    assert reader.offset_ms == 7000


def test_an_old_file_is_not_read_again_on_every_call(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    path.write_text('{"offsetMs": 5000}')
    os.utime(path, ns=(0, 10_000_000_000))  # written long ago
    reader = DevClock(path)
    mtime, inode = os.stat(path).st_mtime_ns, os.stat(path).st_ino

    path.write_text('{"offsetMs": 9000}')  # a change that (wrongly) keeps mtime and inode
    os.utime(path, ns=(0, mtime))
    assert os.stat(path).st_ino == inode

    assert reader.offset_ms == 5000  # the cached offset: no read while nothing looks changed
