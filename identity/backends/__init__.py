"""Where a domain's users and groups come from: its identity driver (Keystone's domain-specific drivers).

``sql`` (the default) keeps them in Stratus's own tables; ``ldap`` reads them from a directory, read-only
(``identity.backends.ldap``). ``base`` is the contract both honour; ``fake`` is an in-memory directory for fast
tests. Imported by the API process only (identity.ldap_shadow); nothing here touches the database.
"""
