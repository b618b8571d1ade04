"""Membership sync without Airflow: roster parsing and validation, the plan and its guards, reconcile."""
