"""Transcript exports without Airflow: selection, canonical records, writers, the exporter.

* :mod:`~xentree_provider.transcripts.selection` — time windows, and which transcripts a window takes;
* :mod:`~xentree_provider.transcripts.listing` — reading the list from near a window's edge;
* :mod:`~xentree_provider.transcripts.records` — the canonical record written for one transcript;
* :mod:`~xentree_provider.transcripts.writers` — JSON Lines and CSV writers;
* :mod:`~xentree_provider.transcripts.exporter` — the concurrent, order-keeping exporter;
* :mod:`~xentree_provider.transcripts.errors` — the export's own errors.

The Airflow side is :class:`~xentree_provider.operators.live.XentreeTranscriptExportOperator`.
"""
