"""The one HTTP process (``stratus-api``, gunicorn): Keystone, Nova, Glance and Neutron APIs and the portal.

``create_app`` (``api.app``) mounts one blueprint per resource under ``api/<service>/`` and the portal
(``portal``). A handler parses and validates its request, enforces ``api.policy``, calls the service layer in
a transaction and sends the service's work through that service's ``client`` after commit. It reaches each
service only through its client, states, models and small public in-process interface (import-linter contracts
in pyproject.toml name them); it never imports a host agent or a control-side worker module.
"""
