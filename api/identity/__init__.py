"""Keystone v3's HTTP layer: views, request schemas and list filters over the ``identity`` service package."""
