"""``stratus-network``: the network control side (``worker``: the Celery app on the ``network`` queue; ``tasks``:
its thin entry points; ``context``: the one ``NetworkControl`` its workflows share; ``wiring``: a host's desired
state computed from the database, with ``router_wiring`` for the routers a host runs; ``placement``: which host
runs a router; ``sync``: pushing it, binding a server's ports, turning agents' reports into port and floating IP
status; ``migration``: a live migration's ports, wired on both hosts until the switch; ``relocation``: the DHCP
servers and routers that move off agents that stop reporting, judged by ``network.liveness``).

Run only by the ``stratus-network`` worker. It holds the database, and may import ``common``, ``network``'s top
level (models, the service layer, ``wire``, ``devicenames``, ``states``, ``client``) and ``compute.client``; it
never imports ``network.host`` (what it sends a host is ``network.wire`` data) nor the API.
"""
