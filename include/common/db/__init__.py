"""Databases by Airflow connection id: :class:`Database` (retrying runs), :class:`Cursor`, the
errors a retry can or cannot fix, and one dialect class per supported database."""

from include.common.db.database import Cursor, Database
from include.common.db.errors import PermanentError, is_transient

__all__ = ["Cursor", "Database", "PermanentError", "is_transient"]
