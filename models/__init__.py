"""Network definitions in the N2UQ layout and the model registry."""

from models.registry import ModelInfo, build_model, known_models, parse_model_name

__all__ = ["ModelInfo", "build_model", "known_models", "parse_model_name"]
