"""Training: the paper's recipe (Adam, linear decay, quantizer lr/10, KD) on CPU, GPU or DDP."""

from n2uq_hw.train.config import TrainConfig
from n2uq_hw.train.runner import train

__all__ = ["TrainConfig", "train"]
