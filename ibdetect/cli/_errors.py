"""The failures a user can fix, each reported as one line on stderr with its exit status."""


class CommandError(Exception):
    """A command that cannot do what was asked: a missing file, a bad value, unusable data."""

    exit_status = 1


class UsageError(CommandError):
    """A command line that does not parse."""

    exit_status = 2


class Interrupted(CommandError):
    """The user pressed Ctrl-C: the command stopped without writing anything."""

    # 128 + SIGINT: the status shells give a program that Ctrl-C ended.
    exit_status = 130


class Terminated(CommandError):
    """A SIGTERM arrived while an output was being written: the command stopped, leaving it as it was."""

    # 128 + SIGTERM, as for a program that the signal ended.
    exit_status = 143


def first_line(exc):
    """The first line of an exception's message, which says what is wrong.

    scikit-learn appends lines of advice (on imputing NaN, say) that do not
    apply to a command.
    """
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""
