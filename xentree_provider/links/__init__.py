"""Operator extra links into the Xentree web app (see :mod:`xentree_provider.links.xentree`)."""
