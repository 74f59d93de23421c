"""`python -m mixlab` is the `mixlab` command."""

from mixlab.cli import run

run()
