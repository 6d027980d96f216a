"""Stand-in: payments from the archive while an EC is down; receipts once it recovers."""
