"""The highly available control plane (issue #17): failovers of its engines while the cloud works."""
