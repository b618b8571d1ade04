"""Conversation exports without Airflow: selection, canonical records, writers, the exporter.

* :mod:`~xentree_provider.conversations.selection` — which conversations and messages a window takes;
* :mod:`~xentree_provider.conversations.records` — the canonical record written for one conversation;
* :mod:`~xentree_provider.conversations.schema` — the typed schema of every format;
* :mod:`~xentree_provider.conversations.writers` — JSON Lines, CSV and Parquet writers;
* :mod:`~xentree_provider.conversations.exporter` — the concurrent, order-keeping exporter.

Built on :mod:`xentree_provider.exports`, as the transcript export is. The Airflow side is
:class:`~xentree_provider.operators.conversations.XentreeConversationExportOperator`.
"""
