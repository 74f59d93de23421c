"""mixlab: turn pretraining data decisions into predictions from cheap proxy runs."""

__version__ = "0.1.0"
