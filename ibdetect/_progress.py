"""Progress: what training shows at ``verbose=1`` (a bar over epochs, or one line per epoch), and a bar over a file.

On a terminal, a bar over the epochs shows how far training is and how long
it has left, with the latest losses beside it. Anywhere else (a log file, a
pipe, a notebook's captured output) a bar's carriage returns and skorch's
colour codes are noise, so each epoch gets one plain line instead.
"""

import sys
from numbers import Number

from skorch.callbacks import Callback, PrintLog
from tqdm.auto import tqdm

# Shown beside the bar, when the history has them.
_BAR_KEYS = ("train_loss", "valid_loss")


def epoch_logger(stream=None):
    """The callback that reports training progress: a bar on a terminal, plain lines elsewhere.

    Parameters
    ----------
    stream : file-like, default=None
        Where the bar would be drawn; None means ``sys.stderr``.

    Returns
    -------
    callback : skorch.callbacks.Callback
    """
    stream = sys.stderr if stream is None else stream
    if _is_terminal(stream):
        return EpochProgressBar(stream=stream)
    return PlainPrintLog()


def _is_terminal(stream):
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class PlainPrintLog(PrintLog):
    """skorch's table of one line per epoch, without colour codes.

    skorch colours the best value of each loss so far; in a file those codes
    show up as garbage around the numbers.
    """

    def format_row(self, row, key, color):
        value = row[key]
        if isinstance(value, bool) or value is None:
            return "+" if value else ""
        if not isinstance(value, Number):
            return value
        template = "{}" if float(value).is_integer() else "{:" + self.floatfmt + "}"
        return template.format(value)


class EpochProgressBar(Callback):
    """A tqdm bar over the epochs of training, with the latest losses beside it.

    Shown only when the net's ``verbose`` is set. A resumed training (another
    ``partial_fit``) continues the count from the epochs already done.

    Parameters
    ----------
    stream : file-like, default=None
        Where to draw the bar; None means ``sys.stderr``.
    """

    def __init__(self, stream=None):
        self.stream = stream

    def on_train_begin(self, net, **kwargs):
        done = len(net.history)
        self.bar_ = tqdm(
            total=done + net.max_epochs,
            initial=done,
            unit="epoch",
            file=self.stream,
            disable=not net.verbose,
            leave=True,
            dynamic_ncols=True,
        )

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        self.bar_.set_postfix({key: f"{row[key]:.4g}" for key in _BAR_KEYS if key in row}, refresh=False)
        self.bar_.update(1)

    def on_train_end(self, net, **kwargs):
        # The bar holds a stream: closed and dropped, so that the net pickles.
        bar = getattr(self, "bar_", None)
        if bar is not None:
            bar.close()
            self.bar_ = None


def progress_bar(total, description, stream=None):
    """A tqdm bar over ``total`` bytes on a terminal; elsewhere one that draws nothing.

    Use it as a context manager; ``update`` and ``n`` work either way.
    """
    stream = sys.stderr if stream is None else stream
    return tqdm(
        total=total, desc=description, unit="B", unit_scale=True, file=stream,
        disable=not _is_terminal(stream), leave=False,
    )
