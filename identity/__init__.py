"""The identity service (Keystone's subset): users, projects, domains, roles and their assignments, passwords,
Fernet tokens, the service catalog, sign-in lockout and credentials (EC2 included, blobs encrypted at rest with
keys of their own: ``credentials.py``).

Runs in-process in the API (``api/identity`` is its HTTP layer: views, request schemas, list filters) and in
``stratus-manage`` (bootstrap, Fernet key setup, host accounts). It depends only on ``common``; no other service
imports it except through the API's request context, and host agents never do (they hold no database access).
"""
