"""Quotas: per-project limits on what a project may hold, counted from the database, never reserved.

``registry`` names every limited resource, its default and the service function that counts it; ``limits``
reads and writes the limits (per project, and the ``default`` class that overrides the built-in defaults);
``engine`` checks a create against them inside the creating transaction, under a lock on the project's
quota row, so concurrent requests can never go over (DESIGN.md section 3, STYLE.md point 14).

Services call ``engine.enforce`` (or their own thin hook, ``network.quota.check``); the APIs translate the
``OverQuota`` it raises into their own fault. ``registry.RESOURCES`` is the one table of quota resources:
the APIs serve it (``GET /identity/v3/OS-STRATUS/quota_resources``) and the portal and the ``stratus`` CLI
read it there, so no client keeps a copy.

Who runs it: ``stratus-api`` (every request that creates or sets limits) and the control-side workers that
create in their own transactions (``stratus-scheduler``, ``stratus-network``, ``stratus-image``); never a
host agent, since it needs the database. It may import ``common`` (settings, the database layer) and
SQLAlchemy, never the API layer, the portal, the CLI or ``manage``, and the services' counting functions
only lazily, by name (``registry.counter``), so services may import it freely (an import-linter contract).
"""
