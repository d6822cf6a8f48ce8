"""The one exception type for mistakes a user can fix: the CLI prints it as one line, exit code 2."""


class UserError(Exception):
    """A bad config, data file, model file or argument; the message names the problem and the fix."""
