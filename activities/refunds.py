"""Refunds: the customer's account balance and the order's credit notes, changed once.

Keyed by (crn, refund_id): the refunds row, the balance change and the credit note are
one transaction, so an activity retried after its commit (the worker died, the reply
was lost) finds the row and changes nothing.
"""

from __future__ import annotations

import asyncpg
from temporalio import activity

from workflows import activity_types
from workflows.messages import RefundApplication


class RefundActivities(activity_types.RefundActivities):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @activity.defn
    async def apply_refund(self, refund: RefundApplication) -> str:
        """Returns the credit note id (the same one on a retry)."""
        credit_note = f"CN-{refund.crn}-{refund.refund_id}"
        async with self.pool.acquire() as conn, conn.transaction():
            done = await conn.fetchval(
                "SELECT credit_note FROM refunds WHERE crn = $1 AND refund_id = $2",
                refund.crn, refund.refund_id)
            if done is not None:
                return done
            await conn.execute(
                "INSERT INTO credit_notes (id, order_id, amount, crn) VALUES ($1, $2, $3, $4)",
                credit_note, refund.order_id, refund.amount, refund.crn)
            await conn.execute(
                "UPDATE customers SET account_balance = account_balance + $2 WHERE id = $1",
                refund.customer_id, refund.amount)
            await conn.execute(
                """INSERT INTO refunds (crn, refund_id, customer_id, order_id, amount, currency,
                                        approved_by, credit_note)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
                refund.crn, refund.refund_id, refund.customer_id, refund.order_id, refund.amount,
                refund.currency, refund.approved_by, credit_note)
        return credit_note
