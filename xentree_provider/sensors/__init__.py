"""Sensors of the Xentree provider.

Each sensor subclasses :class:`~xentree_provider.sensors.base.XentreeConditionSensor`: poke,
reschedule and deferrable modes share one condition, checked by the sync hook when poking and by
:class:`~xentree_provider.triggers.condition.XentreeConditionTrigger` when deferred.
"""
