"""The state cashback's production calendar: the award periods as the programme ran them
(docs/cashback.md#periods; :func:`shared.cashback.rules.parse_periods` validates them).

The extra period of December 2020 and the first half of 2021. The second half of 2021 (period 3)
was suspended by the government before it began and 2022 was never run, so neither is here;
any calendar can still be configured (``CASHBACK_PERIODS``).
"""

from __future__ import annotations

from typing import Any

PRODUCTION_CALENDAR: list[dict[str, Any]] = [
    {
        "id": 1,
        "from": "2020-12-08",
        "to": "2020-12-31",
        "minTransactions": 10,
        "cashbackPercent": 10,
        "maxPerTransaction": 1500,
        "maxPerPeriod": 15000,
        "superCashback": 0,
        "topN": 0,
        "graceDays": 10,
    },
    {
        "id": 2,
        "from": "2021-01-01",
        "to": "2021-06-30",
        "minTransactions": 50,
        "cashbackPercent": 10,
        "maxPerTransaction": 1500,
        "maxPerPeriod": 15000,
        "superCashback": 150000,
        "topN": 100000,
        "graceDays": 15,
    },
]
