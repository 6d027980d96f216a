"""Thin triggers, one module per capability: decode, call one service function, encode."""
