"""Triggers of the Xentree provider (run in the triggerer's event loop).

One generic trigger, :class:`~xentree_provider.triggers.condition.XentreeConditionTrigger`, polls a
named async condition (:mod:`xentree_provider.conditions.registry`); every deferrable sensor uses it.
"""
