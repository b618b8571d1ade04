"""Tables for people and for lakes, without Airflow: spreadsheet-safe CSV cells and deterministic Parquet.

Shared by the domain packages (reporting/, transcripts/, membership/) that write tabular files.
"""
