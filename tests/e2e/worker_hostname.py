"""``[core] hostname_callable`` of the e2e harness's Celery workers: two workers on one machine
record distinct hostnames on the task instances they run (``E2E_WORKER_HOSTNAME``)."""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("E2E_WORKER_HOSTNAME") or socket.getfqdn()
