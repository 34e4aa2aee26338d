"""Errors that end the program with a message that says everything: no traceback needed."""


class StartupError(RuntimeError):
    """Something outside the program is not as the settings say (Redis unreachable, a port in use,
    a data directory held by another daemon, a namespace holding another venue's record, a venue
    that refuses us). The message names the setting to change."""
