"""Simulation of generated accelerators (cocotb + Verilator)."""
