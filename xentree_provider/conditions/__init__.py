"""Named async checks shared by sensors (sync twins) and triggers: no Airflow here.

* :mod:`~xentree_provider.conditions.registry` — register and look up conditions by name or path;
* :mod:`~xentree_provider.conditions.transcripts` — transcripts in a window (``transcripts_in_window``);
* :mod:`~xentree_provider.conditions.xel` — XEL progress (``xel_progress_reached``).

Each condition states what it needs of the async client as a small ``Protocol``.
"""
