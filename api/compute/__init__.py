"""Nova v2.1's HTTP layer (``/compute/v2.1``): servers and their actions, flavors, key pairs, server groups, quotas,
limits and the admin views, over the ``compute`` service (its client, states, models and ``compute.service``)."""
