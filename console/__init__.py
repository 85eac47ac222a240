"""stratus-console-proxy: websockets from browsers and clients to the consoles of guests on compute hosts.

Control side, one process next to the API: it reads the database (is the server still its project's, still
running on that host?) and redeems single-use tokens in Redis (``compute.consoles``), then relays bytes between
the websocket and the console's TCP port on the host. It never talks to libvirt and imports nothing of the compute
host side or of the API. It also serves the small noVNC page a ``novnc`` console URL opens.

Modules: ``origins`` (which web pages may open a console), ``admission`` (the checks before a websocket is
accepted), ``relay`` (the byte pump), ``static`` (the noVNC page and library), ``server`` (the process).
"""
