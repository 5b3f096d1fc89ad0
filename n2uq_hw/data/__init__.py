"""Data layer: datasets from folders, archives or CIFAR-10 batches, and deterministic loaders.

Usage: ``splits = load_dataset(path, image_size=32)``, then
``loader = make_loader(splits.train, batch_size=128, train=True, device="cuda")``;
each epoch call ``loader.set_epoch(epoch)`` and iterate ``for images, labels in loader``.
"""

from n2uq_hw.data.dataset import DataSplits, Split, eval_pixels, load_dataset
from n2uq_hw.data.loaders import make_loader

__all__ = ["DataSplits", "Split", "eval_pixels", "load_dataset", "make_loader"]
