"""User-facing errors: the CLI prints them as one line, without a traceback."""


class DabenchError(Exception):
    """A problem with the user's input (config, name, data) whose message names the fix."""
