"""Reusable logic of the back-office DAG bundle: importable without Airflow running."""
