"""Task plumbing shared by operators and sensors.

The lazy hook, fail-fast config errors, windows from the task context, atomic outputs and assets.
"""
