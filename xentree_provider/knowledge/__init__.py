"""Knowledge-base outputs without Airflow: the records and schemas of the hits and answer files."""
