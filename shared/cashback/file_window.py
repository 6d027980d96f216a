"""The in-file duplicate check's memory: the keys of a file's latest accepted lines, in a fixed
space taken whole when a slice of the file starts (docs/cashback-files.md)."""

from __future__ import annotations

from array import array

DUPLICATE_WINDOW = 200_000
"""How many of a file's latest accepted transactions a line is checked against for
DUPLICATE_IN_FILE. The window's memory is taken whole when a slice of a file starts (~5.6
MB), so a worker's peak does not depend on the file's size. A duplicate further back (or in an
earlier slice) is not reported, and still counts once: the scorer counts each transaction id
once (docs/cashback-files.md)."""

_EMPTY = 0


class _Recent:
    """The keys (64-bit hashes) of the latest ``size`` accepted lines, in two arrays allocated
    once: an open-addressing table at most half full, and the keys in arrival order (a ring),
    so that the oldest leaves when a new one comes. No object per key: a set of Python ints
    grew by ~100 bytes a line until the window filled."""

    def __init__(self, size: int) -> None:
        self._size = max(1, size)
        capacity = 1 << (2 * self._size - 1).bit_length()
        self._mask = capacity - 1
        self._slots = array("Q", bytes(8 * capacity))
        self._order = array("Q", bytes(8 * self._size))
        self._next = 0
        self._count = 0

    def _slot(self, key: int) -> int:
        """Where ``key`` is, or the empty slot where it would go."""
        slots, mask = self._slots, self._mask
        index = key & mask
        while (found := slots[index]) != _EMPTY and found != key:
            index = (index + 1) & mask
        return index

    def add(self, key: int) -> bool:
        """Remember ``key``; False if it is among the latest already."""
        key = key or 1  # 0 marks an empty slot
        index = self._slot(key)
        if self._slots[index] == key:
            return False
        if self._count == self._size:
            self._remove(self._order[self._next])
            index = self._slot(key)  # the removal may have moved the probe's path
        else:
            self._count += 1
        self._slots[index] = key
        self._order[self._next] = key
        self._next = (self._next + 1) % self._size
        return True

    def _remove(self, key: int) -> None:
        # Backward-shift deletion: the keys after the hole that may not stay past it move in.
        slots, mask = self._slots, self._mask
        hole = self._slot(key)
        probe = hole
        while True:
            probe = (probe + 1) & mask
            moved = slots[probe]
            if moved == _EMPTY:
                break
            home = moved & mask
            stays = (hole < home <= probe) if hole <= probe else (home > hole or home <= probe)
            if not stays:
                slots[hole] = moved
                hole = probe
        slots[hole] = _EMPTY
