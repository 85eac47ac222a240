"""The self-service web portal, served at ``/`` of the API port.

Who runs it: the ``stratus-api`` process (``api.app.create_app`` mounts its blueprint), but it is a client
of the cloud, a peer of the ``stratus`` CLI: it may import Flask, Jinja, SQLAlchemy and ``common``
(settings, the database for its own session table, account names), and of the API only ``api.guards``
(the body limits an upload shares with it); never ``api``'s handlers, policy, context or runtime, nor
``identity``, ``compute``, ``network``, ``image`` or ``quota`` (an import-linter contract). What it shows of
the cloud it asks the cloud: even the list of quota resources is the API's (``portal.admin.quotas``).

How it is built
---------------
* **One client, no other door.** Pages never import the service layer: they call the cloud's own REST APIs
  in-process through :class:`portal.client.ApiClient` with the signed-in user's token, so policy,
  validation, quotas and fault bodies are exactly the API's (an import-linter contract holds this).
* **Server-side sessions** (``sessions.py``, table ``portal_sessions``): the cookie is a random id; the token,
  user, project, CSRF secret and last activity live in the database. Idle sessions end after
  ``portal_idle_timeout`` seconds and their tokens are revoked, as at sign-out.
* **CSRF** (``csrf.py``): every POST/PUT/DELETE must carry the session's token (form field ``csrf_token`` or
  header ``X-CSRF-Token``); ``blueprint.py`` refuses any other with 403 before a view runs.
* **Errors**: an :class:`portal.errors.ApiError` carries the API's own message; a form view attaches it
  to the field it names (``Form.fail``); one a view does not catch becomes an error page (401 signs out).
* **Templates** (``templates/portal/``) extend ``layout.html`` and use ``macros.html`` for labelled fields
  with their errors; Jinja autoescapes everything. htmx (vendored from npm into ``assets/node_modules`` by
  ``deploy/install-deps.sh``) adds live updates; every page also works without JavaScript.

How to add a page
-----------------
1. Write a module here with views on the shared blueprint::

       from portal.blueprint import api, bp, render, signed_in   # admin_only for admin pages

       @bp.get("/flavors")
       @signed_in
       def flavors() -> Response:
           listing = api().get("/compute/v2.1/flavors/detail")["flavors"]
           return render("portal/flavors.html", title="Flavors", flavors=listing)

   For a form: ``form = Form.posted("flavor")``, call the API inside ``try``, on ``ApiError`` call
   ``form.fail(exc, fields={"flavor.name": "name"})`` and render the form again with status 400; on success
   ``return redirect_with("portal.flavors", "Flavor created.")`` (a 303 with a notice for the next page).
2. Add a template ``templates/portal/flavors.html`` that ``{% extends "portal/layout.html" %}``; inside a
   ``<form method="post">`` put ``{{ csrf() }}`` and build inputs with ``field``/``select`` from
   ``macros.html`` (each has a label and shows its error).
3. Import the module in ``site.py`` and add a menu entry to ``navigation.TENANT_NAV`` (or ``ADMIN_NAV``).
4. Test it: server side with the Flask test client (``tests/unit/portal/``), in the browser under
   ``tests/portal/``.
"""
