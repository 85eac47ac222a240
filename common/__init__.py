"""What every Stratus process shares, host agents included: the settings loader (``settings``), the Celery app
and message signing (``queue``, ``signing``, ``hostauth``), the one SQLAlchemy base and session helper (``db``), the
base exception, logging, host naming.

Imported by every process; it imports no service package (an import-linter contract says so). ``common.db`` is
the control side's alone: host agents never import it.
"""
