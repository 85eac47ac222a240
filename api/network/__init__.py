"""Neutron v2.0's HTTP layer (``/networking/v2.0``): networks, subnets, ports, routers, floating IPs, security groups,
tags and quotas, over the ``network`` service layer (which runs in this process; the workers are told after commit
through ``network.client``: ``ports_changed`` per network, ``router_changed`` per router)."""
