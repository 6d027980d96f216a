"""Who is calling: citizen tokens, fiscal codes, PSP request signatures and secrets."""
