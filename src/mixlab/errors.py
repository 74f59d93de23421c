"""Errors shared by every layer.

`InputError` marks bad user input (a file, row, column or field that is wrong). The CLI
prints its message without a traceback and exits with code 2; everything else exits 1.
"""


class InputError(ValueError):
    """Bad input from the user; the message names the file, row, column or field."""
