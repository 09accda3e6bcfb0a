"""Text for the terminal: every string the commands print passes through :func:`echo`.

Strings from files (feature names, classes, versions, metadata, CSV headers)
and from the command line can hold control characters: an escape sequence
printed raw can clear the screen, retitle the window or write the clipboard.
:func:`printable` shows each one as a Python escape (``\\x1b``) instead, and
a backslash as ``\\\\``, so that the text ``\\x1b`` cannot pass for an escaped
character. :func:`echo` also escapes what the stream's encoding cannot write
(``\\xe9`` on an ASCII terminal) rather than fail.
"""

import sys
import unicodedata

# Control characters (C0, DEL, C1), format characters (the bidirectional
# controls that reorder the text around them, zero-width spaces and joiners,
# the soft hyphen, the byte order mark: each could show one name as another
# or hide in it), lone surrogates (undecodable bytes of a file name) and the
# separators that break a line as a newline does.
_ESCAPED_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def counted(number, noun):
    """``number`` and ``noun``, plural unless one: ``1 row``, ``2 rows``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def printable(text):
    """``text`` as one line that shows every control character as an escape.

    Parameters
    ----------
    text : str

    Returns
    -------
    line : str
        ``text`` with each control character (newlines and tabs included),
        format character (bidirectional controls, zero-width characters),
        line separator and lone surrogate written as its Python escape,
        e.g. ``"\\x1b[2J"`` for an escape sequence that clears the screen,
        and each backslash doubled. Letters of any script, and every other
        character, stay as they are.
    """
    return "".join(_escape(char) if _unsafe(char) else char for char in str(text))


def echo(*lines, file=None):
    """Print each line, made :func:`printable`, on ``file`` (default: standard output)."""
    file = sys.stdout if file is None else file
    encoding = getattr(file, "encoding", None) or "utf-8"
    for line in lines:
        # What the stream cannot encode is escaped as well, as \xe9 or \u03b2.
        print(printable(line).encode(encoding, "backslashreplace").decode(encoding), file=file)


def _unsafe(char):
    return char == "\\" or unicodedata.category(char) in _ESCAPED_CATEGORIES


def _escape(char):
    if char == "\\":
        return "\\\\"
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
