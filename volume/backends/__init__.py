"""Volume backends, chosen by the ``volume_backends`` setting and selected per volume by its type."""
