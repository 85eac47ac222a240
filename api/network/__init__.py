"""Neutron v2.0's HTTP layer (``/networking/v2.0``): networks, subnets, ports, security groups, tags and quotas, over
the ``network`` service layer (which runs in this process; the workers are told after commit through
``network.client``)."""
