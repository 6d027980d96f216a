"""The event journal: an append-only record of what happened to an EC (docs/journal.md)."""
