"""Hooks of the Xentree provider."""
