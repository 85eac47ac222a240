"""Quotas: per-project limits on what a project may hold, counted from the database, never reserved.

``registry`` names every limited resource, its default and the service function that counts it; ``limits``
reads and writes the limits (per project, and the ``default`` class that overrides the built-in defaults);
``engine`` checks a create against them inside the creating transaction, under a lock on the project's
quota row, so concurrent requests can never go over (DESIGN.md section 3, STYLE.md point 14).

Services call ``engine.enforce`` (or their own thin hook, ``network.quota.check``); the APIs translate the
``OverQuota`` it raises into their own fault. This package never imports the API layer, and it imports the
services' counting functions only lazily, by name, so services may import it freely.
"""
