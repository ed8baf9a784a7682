"""The kernel every job stands on; it knows no job.

``db/`` reaches databases by Airflow connection id (one :class:`~include.common.db.dialects.base.Dialect`
class per dialect holds every difference between them), ``schema`` creates tracking and app tables
from one definition, ``batches`` holds what every batch of every job shares (ids, terminal run
states, error limits, deletion of old rows), ``task_states`` reads Airflow's task states (Task SDK
inside a task, REST API from the command line), ``scrub`` removes secrets from text, ``clock`` is the
one UTC clock, ``paths`` the repository's folders, ``alerts`` the failure e-mail notifier,
``notify/`` the batch notices and alert episodes (once per channel, recorded, never raising).

Import rule: nothing under ``include.common`` imports a job package (``tests/unit/test_layout.py``).
"""
