"""migration-harness: test on-disk data migrations the way they really fail."""

__version__ = "0.1.0"
