# The bundle's Airflow image: the official 3.3.2 image plus the pinned deployment requirements
# (requirements.txt: providers incl. Celery, drivers; the test tools of requirements-dev.txt stay out).
FROM apache/airflow:3.3.2-python3.11
USER root
RUN apt-get update && apt-get install -y --no-install-recommends libmariadb-dev pkg-config gcc \
    && rm -rf /var/lib/apt/lists/*
USER airflow
COPY requirements.txt /requirements.txt
RUN pip install --no-cache-dir -r /requirements.txt
