"""The one error every data source raises."""


class DataError(Exception):
    """A data source that can't be used; the message names it. Scripts print it and exit with code 2."""
