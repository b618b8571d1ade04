"""Operators of the Xentree provider, one module per area."""
