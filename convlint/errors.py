"""Exceptions the command line catches: kept apart so that `convlint --version` and the other
cheap paths do not import the configuration machinery."""


class ConfigError(Exception):
    """A configuration file convlint cannot use; the message names the file and the key."""
