"""n2uq-hw: N2UQ quantization, integer lowering and FPGA accelerator generation."""
