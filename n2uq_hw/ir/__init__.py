"""The integer-only IR: graph data structures, file format and validation (docs/IR.md)."""

from n2uq_hw.ir.graph import SCHEMA, VERSION, Graph, Node, TensorType, load_ir, save_ir

__all__ = ["SCHEMA", "VERSION", "Graph", "Node", "TensorType", "load_ir", "save_ir"]
