"""Glance v2's HTTP layer (``/image/v2``): image records, members and data, over the ``image`` service."""
