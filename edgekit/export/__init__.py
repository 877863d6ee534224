"""Exporters (one module per format) and the bundle (manifest, hashes, atomic write)."""
