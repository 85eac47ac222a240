"""``stratus-metadata-proxy``: Neutron's metadata proxy, one process per host beside its network agent.

Every DHCP namespace of the host (``qdhcp-<network>``, listed by the dataplane in
``<state_dir>/dataplane/<host>/metadata.json``) gets a socket listening on 169.254.169.254:80, made inside that
namespace (``namespaces``); a guest's request there is sent on to the metadata API with the network the socket
serves and the guest's address, signed with the shared secret, and every header the guest sent that could speak
for it dropped (``forward``). ``server`` runs the accept loop. It holds no database access, like the agent.
"""
