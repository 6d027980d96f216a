"""How often a worker process runs CPython's cyclic garbage collector.

Reference counting frees nearly every object the moment it is dropped; the collector is there
for cycles. By default it runs a young collection every 700 net allocations of container
objects, and a full one, walking every tracked object of the process (modules, SDKs, caches),
once enough objects have survived into the old generation. A worker with many invocations in
flight keeps many objects alive across awaits (the cashback scorer: 16 messages, each with up
to 16 period states being written), so they are promoted, die old, and bring full collections
often: in ``bench/cashback.py`` they took about 25 s of the consumer's 58 s of CPU (89 full
collections of ~180 ms). Collecting the young generation every 10,000 allocations lets those
objects die young: the collector's share falls to about 3 s. Cycles still go, a little later.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000


def pace_collector() -> None:
    """Collect the young generation at most every ``YOUNG_THRESHOLD`` allocations (a higher
    threshold already set is kept, and so are the older generations' thresholds)."""
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_THRESHOLD), middle, old)
