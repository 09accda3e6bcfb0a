"""The ``ibdetect`` command line: fit a detector on a data file, score files with it.

``ibdetect fit DATA --output MODEL`` trains :class:`~ibdetect.IBDeepDescription`
on a CSV, ``.npy`` or ``.npz`` file and saves it as a model file of
:mod:`ibdetect.persistence`, which loads without running code. ``ibdetect
score`` writes each row's decision function, -1/+1 prediction and nearest
known class to a CSV, ``ibdetect explain`` the features that weigh most in
each row's score, ``ibdetect info`` describes a saved model and ``ibdetect
demo`` runs the digits demo. Every estimator parameter that a
shell can express is an option of ``fit`` (see ``ibdetect fit --help``).

Failures the user can fix (a missing or malformed file, a bad parameter value,
data the estimator rejects) end the command with one line on stderr and a
non-zero exit status, and so does running out of memory (data or a file too
large for this machine); anything else is a bug and keeps its traceback. A reader
that stops reading the output (``| head``) ends the command quietly. Text
reaches the terminal through one function (``_text.echo``), which escapes
the control characters that strings from files may hold.

The parser is built from argparse alone: the commands, which need torch, are
imported only to run one or to list ``fit``'s options, so that ``--help`` and
``--version`` answer at once.
"""

import argparse
import os
import sys

from .. import __version__
from ._errors import CommandError, Interrupted, UsageError
from ._text import echo

__all__ = ["main"]

PROG = "ibdetect"
# 128 + SIGPIPE: the status shells give a program that a closed pipe ended.
BROKEN_PIPE_STATUS = 141
SECURITY_NOTE = (
    "Model files written by 'ibdetect fit' load without running code. A pickle (joblib) "
    "file runs code stored in it when loaded: it loads only with --trust-pickle."
)

OUT_OF_MEMORY = "out of memory: the data or a file is too large to read in this memory"

# name: (summary, description, whether its help carries the security note)
COMMANDS = {
    "fit": (
        "train a model on a data file and save it",
        "Train an IBDeepDescription on DATA and save it to MODEL. DATA is a CSV file with "
        "a header row (every column but the label column is a feature: numbers, or with "
        "--scale auto also text, true/false and empty cells, encoded as categories and gaps; "
        "a first column without a name holds row ids), an .npy array of features, or an .npz "
        "archive with features under X (images are flattened and set input_shape) and "
        "optional labels under y. Labels name the known normal classes; -1 marks a known "
        "anomaly. Without labels every row is normal data of one class.",
        True,
    ),
    "score": (
        "score the rows of a data file with a saved model",
        "Write a CSV with one row per row of DATA: the decision function (negative for "
        "anomalies), the prediction (-1 anomaly, +1 normal) and the nearest known class, "
        "after the row's id when DATA has an id column. CSV columns are matched to the "
        "model's by name (in their order, with a warning, for a model fitted on an array without names); "
        "the label column the model was fitted with is left out.",
        True,
    ),
    "explain": (
        "name the features that weigh most in each row's anomaly score",
        "Write a CSV with one row per row of DATA: its distance to the normal data (the anomaly "
        "score), the prediction, the nearest known class, the p-value when the model held out normal "
        "samples, whether the row was read as a whole as having come from elsewhere (row_from_elsewhere; "
        "not for images), and the --top features with the largest contributions to the distance, largest first. "
        "A CSV column encoded as several features (categories, gaps) counts as one, their contributions "
        "added up. Columns are read as for 'score'. Needs captum: pip install \"ibdetect[explain]\".",
        True,
    ),
    "info": ("describe a saved model", "Print the versions that saved a model, its parameters, classes, "
             "features, score, threshold and training history.", True),
    "demo": ("run the digits demo", "Detect unseen digits (6-9) after training on known digits (0-5).", False),
}


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises a one-line UsageError instead of printing usage."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser(command=None):
    """The ``ibdetect`` argument parser.

    Parameters
    ----------
    command : str, default=None
        The command whose arguments to add; the others get only their
        summary, so that building the parser imports nothing heavy. None adds
        no command's arguments, which is enough for ``--help`` and
        ``--version``.

    Returns
    -------
    parser : argparse.ArgumentParser
        ``parse_args`` gives a namespace whose ``run`` runs the command with it.
    """
    parser = _Parser(
        prog=PROG,
        description="Anomaly detection with IBDeepDescription from the command line.",
        epilog=f"Run '{PROG} COMMAND --help' for a command's options. {SECURITY_NOTE}",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", required=True, metavar="COMMAND")
    for name, (summary, description, with_note) in COMMANDS.items():
        subparser = subparsers.add_parser(
            name, help=summary, description=description, epilog=SECURITY_NOTE if with_note else None
        )
        if command == name:
            _add_arguments(subparser, name)
    return parser


def _add_arguments(parser, name):
    from . import _commands, _explain, _models

    add = {
        "fit": _commands.add_fit_arguments,
        "score": _commands.add_score_arguments,
        "explain": _explain.add_explain_arguments,
        "info": _models.add_info_arguments,
        "demo": _commands.add_demo_arguments,
    }[name]
    add(parser)
    run = {
        "fit": _commands.fit, "score": _commands.score, "explain": _explain.explain, "info": _models.info,
        "demo": _commands.run_demo,
    }
    parser.set_defaults(run=run[name])


def main(argv=None):
    """Run the ``ibdetect`` command line.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments after the program name; None reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success, 1 when the command failed, 2 when the arguments do not
        parse, 130 when Ctrl-C stopped it, 141 when the reader of its output
        stopped reading, 143 when SIGTERM stopped it while writing.
        ``--help`` and ``--version`` exit through ``SystemExit``.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser(_command_in(argv)).parse_args(argv)
        args.run(args)
        # Here, so that a reader gone before the last line is seen below.
        sys.stdout.flush()
    except BrokenPipeError:
        _drop_stdout_if_broken()
        return BROKEN_PIPE_STATUS
    except CommandError as exc:
        return _report(str(exc), exc.exit_status)
    except KeyboardInterrupt:
        return _report("interrupted; nothing was written", Interrupted.exit_status)
    except MemoryError:
        # What was allocated is freed by now, which leaves room for the line.
        return _report(OUT_OF_MEMORY, 1)
    except OSError as exc:
        message = f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc)
        return _report(message, 1)
    return 0


def _command_in(argv):
    """The command named in ``argv``, if any: the first argument that is one."""
    return next((arg for arg in argv if arg in COMMANDS), None)


def _report(message, status):
    try:
        echo(f"{PROG}: error: {' '.join(message.splitlines())}", file=sys.stderr)
    except BrokenPipeError:
        pass
    return status


def _drop_stdout_if_broken():
    """After a reader closed its end (``| head``): end as quietly as Unix tools do.

    Output still buffered for a closed standard output would fail again when
    Python flushes it on exit, with an "Exception ignored" message; it goes to
    the null device instead. A standard output that still works is left as it
    is (the closed pipe was a FIFO named by --output).
    """
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError):
        pass
