"""Shared pytest plugins (loaded with -p from pyproject): local services and the Airflow test home."""
