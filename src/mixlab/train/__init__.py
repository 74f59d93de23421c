"""The proxy trainer: the model family, the loop, evaluation and probes, checkpoints."""
