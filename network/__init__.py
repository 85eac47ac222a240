"""The network service (Neutron's subset). Where each module runs is in its path:

* ``network/`` (this level): the service layer the Network API calls in-process, inside the request's
  transaction (``networks``, ``subnets``, ``ports``, ``security_groups``, ``security_group_rules``, the L3
  resources ``routers``, ``router_interfaces`` and ``floating_ips``, with
  ``access`` for who may see what, the allocators ``segments``, ``ipam``, ``macs``, and ``models``), the rule
  that makes an agent down (``liveness``), the task names and arguments (``client``), the public states
  (``states``), the compute-facing ports interface (``vif``), and what the control side and the host agents
  share: the desired-state messages (``wire``) and the device-name rules (``devicenames``). ``wire``,
  ``devicenames``, ``states`` and ``addresses`` import no database code, so host agents may use them.
* ``network/control/``: ``stratus-network``, the control side (each host's desired wiring, port binding and
  status, DHCP relocation). It holds the database.
* ``network/host/``: ``stratus-netagent``, the agent on each host and its dataplane drivers. It holds no
  database access.

The two sides share only this level: ``network.control`` never imports ``network.host`` nor the reverse. Of
``compute`` the package takes only its client and states; import-linter contracts hold both rules.
"""
