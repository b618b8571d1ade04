"""What every record export shares, without Airflow: ordered concurrent fetching, canonical timestamps
and the record writers.

* :mod:`~xentree_provider.exports.fetching` — per-item detail fetched by a bounded thread pool, handed
  over in a fixed order, behind a :class:`~xentree_provider.exports.fetching.FetchConcurrency` seam;
* :mod:`~xentree_provider.exports.timestamps` — one canonical form for every timestamp variant;
* :mod:`~xentree_provider.exports.writers` — the record writer Protocol, JSON Lines and Parquet writers.

The transcript export (:mod:`xentree_provider.transcripts`) and the conversation export
(:mod:`xentree_provider.conversations`) are built on these.
"""
