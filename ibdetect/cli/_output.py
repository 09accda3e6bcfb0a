"""Where the commands write: checked before any work, then written as Unix tools write.

A regular file is replaced whole or not at all: the content goes to a
temporary file in the same folder, which replaces it once complete, with the
mode the file had (a new file gets the umask's). A symbolic link stays a
link and its target is written. A FIFO or a character device (a terminal,
``/dev/null``, a pipe named ``/dev/stdout``) is written through, as a
stream. A file that the shell opened and that the command reaches by a
name of one of its descriptors (``-o /dev/stdout > file``, ``/dev/fd/N``)
is the shell's: it is written through as well (emptied, then written),
never replaced.
"""

import io
import os
import re
import shlex
import signal
import stat
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from ._errors import CommandError, Terminated

# The name that stands for standard output in place of a file.
STDOUT = "-"
# The folders of a process's open descriptors, as /dev/fd and /dev/stdout lead to.
_DESCRIPTOR_FOLDER = re.compile(r"/proc/[^/]+(/task/[^/]+)?/fd")
# At most as many symbolic links are followed as Linux follows in a path.
_MAX_LINKS = 40


def check_output(output, inputs, allow_stdout):
    """Refuse an output that cannot be written, or would replace one of the inputs, before any work.

    Parameters
    ----------
    output : str
        The path given, or ``"-"``.
    inputs : list of str
        The files the command reads.
    allow_stdout : bool
        Whether ``"-"`` (standard output) may be written: the commands that
        write CSV text allow it.

    Raises
    ------
    CommandError
        The output is an empty name or a folder, names an input, is a
        compressed file's name (``.gz``) for text, is a kind
        of file that is not written (a block device, a socket), or its
        folder is missing, not a folder, or not writable.
    """
    if not output:
        raise CommandError("the output (--output) is an empty name; name a file to write")
    if output == STDOUT:
        if allow_stdout:
            return
        raise CommandError("a model cannot be written to standard output; name a file with --output")
    if allow_stdout and output.lower().endswith(".gz"):
        # What may go to standard output is CSV text, which is written as it comes.
        raise CommandError(
            f"{output} would hold uncompressed text; compress it on the way: -o - | gzip > {shlex.quote(output)}"
        )
    if os.path.isdir(output):
        raise CommandError(f"{output} is a folder; name a file to write")
    for path in inputs:
        if _same_file(output, path):
            raise CommandError(f"{output} is also an input of this command; write to another file")
    destination, status, through = _plan(output)
    if through:
        if not os.access(output, os.W_OK):
            raise CommandError(f"{output}: Permission denied")
        return
    if status is not None and not stat.S_ISREG(status.st_mode):
        raise CommandError(f"{output} is neither a regular file, a FIFO nor a character device; name a file")
    folder = destination.parent
    if not folder.exists():
        raise CommandError(f"{output}: there is no folder {str(folder)!r}")
    if not folder.is_dir():
        raise CommandError(f"{output}: {str(folder)!r} is not a folder")
    # Trying is the only sure test: permissions, a read-only file system or
    # access control lists may each forbid it, and root passes os.access.
    try:
        handle, probe = tempfile.mkstemp(dir=folder, prefix=f".{destination.name}.", suffix=".tmp")
    except OSError as exc:
        raise CommandError(f"{output}: cannot write in the folder {str(folder)!r}: {exc.strerror}") from None
    os.close(handle)
    os.unlink(probe)


def write_output(path, write, binary):
    """Write ``path`` through ``write(file)``, as :func:`check_output` allowed.

    A regular file (or a new one) is whole or untouched: a failure half way
    (a full disk, Ctrl-C, SIGTERM) leaves any previous file as it was and no
    temporary file. Text is UTF-8, on standard output as in a file.
    """
    if path == STDOUT:
        _write_stdout(write, binary)
        return
    destination, status, through = _plan(path)
    if through:
        # A reader (or a device) takes the bytes as they come, and a file the
        # shell opened is the shell's: there is no file to replace. The path
        # itself is opened, since one of /proc/PID/fd leads where its link
        # text (pipe:[N]) does not. What was printed before comes first.
        sys.stdout.flush()
        with _open(path, binary) as file:
            write(file)
        return
    _replace(destination, write, binary, status)


def output_name(path):
    """How a report names the output ``path``: ``"-"`` is standard output."""
    return "standard output" if path == STDOUT else path


def is_standard_output(path):
    """Whether writing ``path`` writes standard output: ``"-"``, or another name for it such as ``/dev/stdout``."""
    if path == STDOUT:
        return True
    try:
        return os.path.samestat(os.stat(path), os.fstat(sys.stdout.fileno()))
    except (OSError, ValueError, AttributeError):
        # No such file yet, or a standard output that is no file (a test's
        # capture): io.UnsupportedOperation is both an OSError and a ValueError.
        return False


def _replace(destination, write, binary, status):
    """Write a temporary file beside ``destination``, then rename it over it."""
    mode = _umask_mode() if status is None else stat.S_IMODE(status.st_mode) & 0o777
    with _sigterm_raises():
        handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".tmp")
        try:
            with _open(handle, binary) as file:
                write(file)
                file.flush()
                os.fsync(file.fileno())
            if status is not None:
                _keep_owner(temporary, status)
            os.chmod(temporary, mode)
            os.replace(temporary, destination)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _write_stdout(write, binary):
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        # Standard output replaced by a text stream (e.g. in a caller's
        # redirect_stdout): it takes the text as it is.
        write(sys.stdout)
        sys.stdout.flush()
        return
    # What was printed before comes first.
    sys.stdout.flush()
    if binary:
        write(buffer)
    else:
        text = io.TextIOWrapper(buffer, encoding="utf-8", newline="", write_through=True)
        try:
            write(text)
        finally:
            text.detach()
    buffer.flush()


def _open(file, binary):
    """``file`` (a path or a descriptor) opened to write bytes, or UTF-8 text with the CSV module's line ends."""
    return open(file, "wb") if binary else open(file, "w", newline="", encoding="utf-8")


def _plan(path):
    """How ``path`` is written: ``(destination, status, through)``.

    ``status`` is ``os.stat`` of the file the path leads to (links
    followed), None when there is none yet. ``through`` is True for a FIFO,
    a character device, or a regular file reached by a name of an open
    descriptor: ``path`` is then opened and written as it is. Otherwise
    ``destination`` (the final target of a symbolic link, else the path
    itself) is replaced.
    """
    try:
        status = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        status = None
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}") from None
    if status is not None and (
        _is_stream(status.st_mode) or (stat.S_ISREG(status.st_mode) and _names_a_descriptor(path))
    ):
        return Path(path), status, True
    return _destination(path), status, False


def _destination(path):
    """Where writing ``path`` writes: the final target of a symbolic link, else the path itself."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)


def _names_a_descriptor(path):
    """Whether ``path`` leads, through symbolic links, to an entry of a ``/proc/PID/fd`` folder.

    ``/dev/stdout``, ``/dev/fd/1`` and ``/proc/self/fd/1`` do, and a link to
    any of them.
    """
    for _ in range(_MAX_LINKS):
        if not os.path.islink(path):
            return False
        folder = os.path.dirname(path)
        if _DESCRIPTOR_FOLDER.fullmatch(os.path.realpath(folder or os.curdir)):
            return True
        try:
            path = os.path.join(folder, os.readlink(path))
        except OSError:
            return False
    return False


def _is_stream(mode):
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def _umask_mode():
    """The mode a new file gets: read and write for all, less the umask."""
    # The umask can only be read by setting it; it is set back at once.
    umask = os.umask(0o077)
    os.umask(umask)
    return 0o666 & ~umask


def _keep_owner(path, status):
    """Give the file the owner and group of the one it replaces, where allowed."""
    if not hasattr(os, "chown"):
        return
    try:
        os.chown(path, status.st_uid, status.st_gid)
    except OSError:
        # Only root may give a file away: the file is then the writer's.
        pass


@contextmanager
def _sigterm_raises():
    """Turn SIGTERM into Terminated, so that the temporary file is removed; then restore the handler."""
    if threading.current_thread() is not threading.main_thread():
        # Signal handlers can only be set from the main thread.
        yield
        return

    def terminated(signum, frame):
        raise Terminated("terminated; the output was left as it was")

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        # None: a handler set outside Python, which cannot be set back.
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        # One of them does not exist (yet): they can only be the same by name.
        return Path(a).resolve() == Path(b).resolve()
