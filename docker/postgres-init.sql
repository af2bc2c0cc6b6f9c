-- The ledger's own database on the metadata PostgreSQL (connection learnosity_state).
CREATE DATABASE learnosity_state OWNER airflow;
