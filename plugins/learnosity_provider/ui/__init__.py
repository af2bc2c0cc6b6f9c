"""The delivery page: an Airflow 3 plugin (FastAPI app in the api-server, behind Airflow's own login)
that serves run reports, recent runs with their counts and a learner / session lookup."""
