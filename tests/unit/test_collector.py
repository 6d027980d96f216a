import gc
from collections.abc import Iterator

import pytest

from shared.platform.collector import YOUNG_THRESHOLD, pace_collector


@pytest.fixture
def thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*saved)


@pytest.mark.usefixtures("thresholds")
def test_the_young_generation_is_collected_less_often_and_the_older_ones_as_before() -> None:
    gc.set_threshold(700, 10, 10)

    pace_collector()

    assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)


@pytest.mark.usefixtures("thresholds")
def test_a_higher_threshold_already_set_is_kept() -> None:
    gc.set_threshold(YOUNG_THRESHOLD * 5, 20, 30)

    pace_collector()

    assert gc.get_threshold() == (YOUNG_THRESHOLD * 5, 20, 30)
