"""Estimator parameters as command-line options, derived from the estimator itself.

Every parameter that a shell can express becomes an option of ``fit``: its
kind of value comes from ``_parameter_constraints`` and its help from the
numpydoc Parameters section of the class docstring, so a new parameter needs
no change here.
"""

import argparse
import inspect
import re
from numbers import Integral, Real
from typing import Callable, NamedTuple

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

# Estimator parameters that get no option: fit sets verbose from its own flag,
# and always trains a new model, which leaves warm_start nothing to continue.
NOT_OPTIONS = frozenset({"verbose", "warm_start"})


class _Kind(NamedTuple):
    """A kind of value an option takes: its name in the help and how to read it.

    ``parse`` raises ``ValueError`` when the text is not of this kind.
    """

    metavar: str
    parse: Callable[[str], object]


def _parse_none(text):
    if text.lower() != "none":
        raise ValueError(text)
    return None


def _parse_bool(text):
    try:
        return {"true": True, "false": False}[text.lower()]
    except KeyError:
        raise ValueError(text) from None


def _parse_number(text):
    try:
        return int(text)
    except ValueError:
        return float(text)


def _parse_numbers(text):
    return tuple(_parse_number(item) for item in text.split(","))


def _choice(options):
    options = sorted(options)

    def parse(text):
        if text not in options:
            raise ValueError(text)
        return text

    return _Kind("|".join(options), parse)


NONE = _Kind("none", _parse_none)
INT = _Kind("INT", int)
FLOAT = _Kind("FLOAT", float)
BOOL = _Kind("true|false", _parse_bool)
NUMBERS = _Kind("N[,N...]", _parse_numbers)
TEXT = _Kind("TEXT", str)

# scikit-learn's named constraints, and the types used as constraints, that a
# shell can express. Any other constraint (callable, list, ...) stands for
# Python objects and gives no kind.
_NAMED_KINDS = {"array-like": [NUMBERS], "boolean": [BOOL], "random_state": [INT, NONE], "verbose": [INT]}
_TYPE_KINDS = {bool: BOOL, int: INT, Integral: INT, float: FLOAT, Real: FLOAT, str: TEXT}


def _constraint_kinds(constraint):
    if constraint is None:
        return [NONE]
    if isinstance(constraint, StrOptions):
        return [_choice(constraint.options)]
    if isinstance(constraint, Interval):
        return [INT if issubclass(constraint.type, Integral) else FLOAT]
    if isinstance(constraint, str):
        return _NAMED_KINDS.get(constraint, [])
    if isinstance(constraint, type) and constraint in _TYPE_KINDS:
        return [_TYPE_KINDS[constraint]]
    return []


def _option_kinds(constraints):
    """The kinds of text a parameter with these constraints takes, in their order."""
    kinds = []
    for constraint in constraints:
        kinds += [kind for kind in _constraint_kinds(constraint) if kind not in kinds]
    return kinds


def _option_type(kinds):
    """An argparse ``type`` that reads an option's text as the first kind it fits."""

    def parse(text):
        for kind in kinds:
            try:
                return kind.parse(text)
            except ValueError:
                continue
        raise argparse.ArgumentTypeError(f"expected {_metavar(kinds)}, got {text!r}")

    return parse


def _metavar(kinds):
    return "|".join(kind.metavar for kind in kinds)


class _StoreParam(argparse.Action):
    """Collect estimator options in ``namespace.params``, keyed by parameter name."""

    def __call__(self, parser, namespace, values, option_string=None):
        # A new dict each time: the default one is shared by every parse.
        namespace.params = {**namespace.params, self.dest: values}


def add_estimator_options(parser, estimator_class):
    """Add an option for each parameter of ``estimator_class`` a shell can express.

    The value of ``--some-name`` goes to ``args.params["some_name"]``; parameters
    left unset keep the estimator's default. Parameters whose constraints only
    allow Python objects (or None) get no option.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    estimator_class : type
        A scikit-learn estimator with ``_parameter_constraints``.
    """
    parser.set_defaults(params={})
    group = parser.add_argument_group(
        "estimator options", f"Parameters of {estimator_class.__name__}; unset ones keep their default."
    )
    docs = _parameter_docs(estimator_class)
    for name, default in estimator_class().get_params(deep=False).items():
        kinds = _option_kinds(estimator_class._parameter_constraints.get(name, []))
        if name in NOT_OPTIONS or kinds in ([], [NONE]):
            continue
        description = f"{docs.get(name, '')} (default: {format_value(default)})".strip()
        group.add_argument(
            "--" + name.replace("_", "-"),
            action=_StoreParam,
            dest=name,
            type=_option_type(kinds),
            metavar=_metavar(kinds),
            default=argparse.SUPPRESS,
            # argparse expands % in help text.
            help=description.replace("%", "%%"),
        )


def _parameter_docs(estimator_class):
    """Each parameter's description in the numpydoc Parameters section of the class docstring.

    Only a description's first paragraph is kept: later ones are for Python
    users (e.g. passing objects), which an option cannot do.
    """
    lines = inspect.cleandoc(estimator_class.__doc__ or "").splitlines()
    docs, name, section = {}, None, None
    for line, next_line in zip(lines, lines[1:] + [""]):
        if next_line and set(next_line) == {"-"}:
            section = line.strip()
        elif section != "Parameters":
            continue
        elif not line.strip():
            name = None
        elif set(line) == {"-"}:
            continue
        elif not line.startswith(" "):
            name = line.split(" : ")[0].strip()
            docs[name] = ""
        elif name is not None:
            docs[name] += " " + line.strip()
    return {name: _plain(text.strip()) for name, text in docs.items()}


# A Sphinx cross-reference: :role:`target`, :role:`~module.target` or :role:`title <target>`.
_ROLE = re.compile(r":([a-z]+):`~?([^`<]*?)\s*(?:<([^>]*)>)?`")


def _plain(text):
    """Docstring text as a terminal shows it: literals unquoted, references by their name."""

    def named(match):
        role, title, _ = match.groups()
        if role in ("doc", "ref"):
            # A page or section of the documentation, by its title if given.
            return f"'{title.strip('/')}' in the docs"
        return title.rsplit(".", 1)[-1]

    return _ROLE.sub(named, text).replace("``", "")


def format_value(value):
    """A parameter value as the command line writes it; an object by its class name."""
    if value is None:
        return "none"
    if isinstance(value, (str, Real)):
        return str(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return ",".join(format_value(item) for item in value)
    return getattr(value, "__name__", type(value).__name__)
