"""XEL progress reports without Airflow: assembly from a progress source, report data, and its CSV,
JSON and HTML files."""
