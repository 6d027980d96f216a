"""What acquirers send to the transactions API, and what they are answered.

A batch holds up to :data:`MAX_LINES` lines, each checked on its own by the intake
(:mod:`shared.cashback.intake`): a line is a :class:`TransactionIn` or it is rejected with its
reasons, and the batch goes on.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from shared.cashback import rules
from shared.platform.values import BoundedDateTime, SafeText

MAX_LINES = 10_000
MAX_AMOUNT = 100_000_000
"""Euro cents of one transaction at most (a million euros)."""
_CODE = r"^[A-Za-z0-9._-]{1,64}$"


class TransactionIn(BaseModel):
    """One acquirer transaction (amounts in euro cents).

    Every field is strict: an amount is an integer (not ``true``, not ``20.0``, not ``"20"``), a
    date-time is text with its offset and a year in 2000-2099 (not a number of seconds), so a
    line is either exactly what the acquirer meant or rejected on its own.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)

    acquirer_id: SafeText = Field(alias="acquirerId", pattern=r"^[A-Z0-9]{3,32}$")
    acquirer_code: SafeText = Field(
        alias="acquirerCode",
        pattern=r"^[0-9A-Z]{5}$",
        description="The acquirer's ABI code, as in the file's name",
    )
    id_trx_acquirer: SafeText = Field(alias="idTrxAcquirer", pattern=_CODE)
    hpan: SafeText = Field(pattern=r"^[0-9a-f]{64}$")
    operation_type: rules.OperationType = Field(alias="operationType")
    trx_date: BoundedDateTime = Field(
        alias="trxDate", strict=False, description="ISO 8601 with its UTC offset; 2000-2099"
    )
    amount: StrictInt = Field(ge=1, le=MAX_AMOUNT, description="Euro cents")
    merchant_id: SafeText = Field(alias="merchantId", pattern=_CODE)
    terminal_id: SafeText = Field(alias="terminalId", pattern=_CODE)
    correlation_id: SafeText | None = Field(default=None, alias="correlationId", pattern=_CODE)
    circuit_type: SafeText = Field(alias="circuitType", pattern=r"^[0-9]{2}$")

    def rule_view(self) -> rules.Transaction:
        return rules.Transaction(
            id=f"{self.acquirer_id}:{self.id_trx_acquirer}",
            hpan=self.hpan,
            operation=self.operation_type,
            amount=self.amount,
            at=self.trx_date,
            acquirer_id=self.acquirer_id,
            merchant_id=self.merchant_id,
            terminal_id=self.terminal_id,
            correlation_id=self.correlation_id,
        )


class TransactionBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Any JSON value per line: a line that is not even an object is that line's rejection,
    # not the batch's.
    transactions: list[Any] = Field(
        min_length=1,
        max_length=MAX_LINES,
        description="Up to 10,000 transactions; each is checked on its own",
        json_schema_extra={"items": TransactionIn.model_json_schema(by_alias=True)},
    )


class LineRejection(BaseModel):
    index: int
    reason: str
    errors: list[dict[str, Any]] = Field(default_factory=list)


class BatchAccepted(BaseModel):
    accepted: int
    rejected: list[LineRejection]
