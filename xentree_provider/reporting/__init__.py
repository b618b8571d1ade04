"""XEL progress reports without Airflow: report data and its CSV, JSON and HTML rendering."""
