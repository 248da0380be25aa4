"""How much may be refunded against an order (the complaint management process, step 11): pure Decimal arithmetic.

The most a complaint may refund or credit is what the customer paid for the order
(net amount plus tax at the order's tax rate) less the credit notes already issued
against it, rounded to the currency's minor unit. No floats anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from workflows.records import Order

# Minor units per ISO 4217 where they are not 2.
_MINOR_UNITS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "BHD": 3, "KWD": 3,
                "OMR": 3, "JOD": 3, "TND": 3}


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-_MINOR_UNITS.get(currency.upper(), 2))


def to_money(amount: Decimal, currency: str) -> Decimal:
    """Round half up to the currency's minor unit (the way invoices round)."""
    return Decimal(amount).quantize(quantum(currency), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class RefundLimit:
    currency: str
    net: Decimal
    tax: Decimal
    gross: Decimal
    credited: Decimal
    maximum: Decimal

    def explain(self) -> str:
        return (f"net {self.net} + tax {self.tax} = {self.gross} {self.currency}, "
                f"less credit notes {self.credited} = at most {self.maximum} {self.currency}")


def refund_limit(order: Order) -> RefundLimit:
    currency = order.currency
    net = to_money(order.net_amount, currency)
    tax = to_money(order.net_amount * order.tax_rate, currency)
    gross = net + tax
    credited = to_money(sum((n.amount for n in order.credit_notes), Decimal(0)), currency)
    return RefundLimit(currency=currency, net=net, tax=tax, gross=gross, credited=credited,
                       maximum=max(gross - credited, Decimal(0)).quantize(quantum(currency)))
