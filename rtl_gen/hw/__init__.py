"""Amaranth components of the layer-sequential engine, one hardware function per file."""
