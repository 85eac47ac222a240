"""The Linux dataplane: Neutron's linuxbridge layout with Nova's "hybrid plug", on a stock kernel.

Per network on a host (inside the host's namespace when it is simulated): a bridge ``brq<net11>`` and a VXLAN
device ``vxlan-<vni>`` in it, bound to the host's underlay address, with learning off and forwarding entries
pushed by the control side (L2 population, head-end replication: no multicast in the underlay).

Per VM port, in the root namespace, where libvirt runs: a bridge ``qbr<id11>`` and a veth ``qvb<id11>`` (in
``qbr``) ↔ ``qvo<id11>`` (in ``brq``, in the host's namespace). libvirt creates the guest's tap ``tap<id11>``
and adds it to ``qbr`` every time the domain starts (``<interface type='bridge'>``). Why the extra bridge:

* the wiring exists before the guest starts, is not undone when it stops, and survives reboots, stop/start and
  libvirtd restarts without the agent plugging anything again: ports are "up" independent of the guest;
* the filtered device (``qvo``) is ours, not QEMU's: its name and lifetime never depend on the hypervisor,
  which a tap's do (libvirt deletes its tap when the domain stops);
* on a machine that simulates several hosts, the tap stays in the root namespace where libvirt can see it,
  and only ``qvo`` crosses into the host's namespace.

Per network served here: a ``qdhcp-<network_id>`` namespace with dnsmasq on ``ns-<id11>``, whose peer
``tap<id11>`` is in ``brq``. Security groups: nftables in the host's namespace (see ``firewall``).

Per router run here: a ``qrouter-<router_id>`` namespace with ``qr-<id11>`` interfaces (peers ``tap<id11>`` in the
networks' ``brq``), a ``qg-<id11>`` gateway (peer ``tap<id11>`` in the physical network's root-namespace bridge),
routes and one NAT table (see ``router`` and ``nat``).

Modules: ``runner`` (the only place commands run), ``inspect`` (reading the kernel), ``links`` (idempotent
devices), ``fdb``, ``firewall`` + ``sgrules`` (pure rendering) and ``nftables`` (loading), ``dnsmasq`` (pure
rendering) and ``dhcp`` (servers), ``nat`` (pure rendering) and ``router`` (routers), ``host`` (the host namespace,
underlay and physical networks' bridges), ``shaping`` (QoS bandwidth limits as tc token buckets on the ports'
veths), ``driver`` (the order of it all).
"""
