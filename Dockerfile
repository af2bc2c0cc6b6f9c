# The project's Airflow image: the official 3.3.2 image plus the pinned, frozen dependency set
# and this project installed as a distribution (so the `learnosity` connection type is registered
# in every process, the api-server included). The product stage holds no emulator, sample data
# or tests; the `devtools` stage adds them for the compose demo only.
FROM apache/airflow:3.3.2-python3.11 AS airflow

COPY --chown=airflow:0 requirements.txt constraints.txt pyproject.toml /opt/learnosity/
COPY --chown=airflow:0 include /opt/learnosity/include
COPY --chown=airflow:0 plugins /opt/learnosity/plugins
RUN pip install --no-cache-dir "apache-airflow==3.3.2" -r /opt/learnosity/requirements.txt \
        -c /opt/learnosity/constraints.txt \
    && pip install --no-cache-dir --no-deps /opt/learnosity

COPY --chown=airflow:0 dags /opt/airflow/dags

FROM airflow AS devtools
# The Data API emulator and the demo warehouse seeder, for the demo stack only.
COPY --chown=airflow:0 devtools /opt/learnosity-devtools
RUN pip install --no-cache-dir --no-deps /opt/learnosity-devtools
