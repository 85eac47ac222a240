"""The metadata API (``/metadata``): what a guest reads at 169.254.169.254, as Nova's metadata service serves it
behind Neutron's metadata proxy.

Only the hosts' metadata proxies (``network.host.metadata``) call it, never a user: each request names the network
it came in on and the guest's address, signed with the proxies' shared secret (``common.metadata_secret``). The
answer is the documents (``compute.metadata``) of the one server whose port on that network holds that address,
or nothing: 403 for a signature that does not check, 404 for an address no server holds.
"""
