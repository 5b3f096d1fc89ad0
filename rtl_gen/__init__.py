"""Accelerator generator (Amaranth): filled in by the generator issue."""
