"""Payments: citizens see and pay their notices, and keep their receipts.

``receipt_model`` is the record a completed payment leaves (written by the transactions, read by
the receipts' routes and their PDF); the other modules are the notices' per-debtor index, the
payment transactions and the receipts' store and routes.
"""
