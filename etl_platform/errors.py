"""The one base of the errors a user can fix: a command prints such an error as one line, whatever
module raised it, without importing that module (the CLI imports each command's modules lazily)."""


class UserError(Exception):
    """A failure told in one line that says what to change: a file, a name, a setting."""
