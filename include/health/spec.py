"""What the ``health_reconcile`` DAG file needs at parse time: its id, the Variable that tunes it,
and the notifier that e-mails the operators when a task fails for good."""

from include.common.alerts import FailureAlert

DAG_ID = "health_reconcile"
VARIABLE = "health_reconcile"

__all__ = ["DAG_ID", "VARIABLE", "FailureAlert"]
