"""The error every command reports as `error: ...` with exit status 2 (commands.run_cli): a module of its own, so
that argument parsing, the pre-flight checks and the resume logic can all raise it without importing each other."""


class ArgumentError(ValueError):
    """Contradictory or invalid command-line arguments."""
