"""The payment-methods registry: what a wallet can be created for, from configuration.

pagoPA's wallet takes a ``paymentMethodId`` from its payment-methods registry when a wallet is
created (``WalletCreateRequest`` in pagopa-wallet-service's ``api-spec/wallet-api.yaml``).
Here the registry is the data file ``payment_methods.json`` shipped with the app: each method
with its status and the amount ranges (euro cents) it serves. Only methods marked
``onboardable`` (cards, through the gateway's hosted page) can be onboarded today.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shared.platform.errors import Invalid


class AmountRange(BaseModel):
    min: int = Field(ge=0)
    max: int = Field(ge=0)


class PaymentMethod(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    id: str
    name: str
    description: str
    status: Literal["ENABLED", "DISABLED"]
    payment_type_code: str = Field(alias="paymentTypeCode")
    onboardable: bool = Field(description="Whether a wallet can be onboarded for it today")
    ranges: list[AmountRange]


class PaymentMethods(BaseModel):
    payment_methods: list[PaymentMethod] = Field(alias="paymentMethods")

    model_config = ConfigDict(populate_by_name=True)


@functools.cache
def payment_methods() -> PaymentMethods:
    """The registry (read once per process from the packaged file)."""
    raw = resources.files("shared.wallet").joinpath("payment_methods.json").read_bytes()
    methods = TypeAdapter(list[PaymentMethod]).validate_json(raw)
    return PaymentMethods(payment_methods=methods)


def onboardable(payment_method_id: str) -> PaymentMethod:
    """The method a wallet is created for; 422 if unknown, disabled or not onboardable."""
    method = next((m for m in payment_methods().payment_methods if m.id == payment_method_id), None)
    if method is None:
        raise Invalid("unknown paymentMethodId", status=422)
    if method.status != "ENABLED" or not method.onboardable:
        raise Invalid(f"payment method {method.name} cannot be onboarded", status=422)
    return method
