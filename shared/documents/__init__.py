"""PDF documents the app renders: citizens' payment receipts, ECs' paper payment notices."""
