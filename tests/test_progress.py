import io
import sys

import numpy as np
import pytest

from ibdetect import IBDeepDescription
from ibdetect._progress import EpochProgressBar, PlainPrintLog, epoch_logger


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("stream, kind", [(Terminal(), EpochProgressBar), (io.StringIO(), PlainPrintLog)])
def test_a_bar_on_a_terminal_plain_lines_elsewhere(stream, kind):
    assert isinstance(epoch_logger(stream), kind)


def fit_with(stderr, verbose, monkeypatch):
    # The logger is chosen when fit builds the net, from what stderr is then.
    monkeypatch.setattr(sys, "stderr", stderr)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    detector = IBDeepDescription(max_epochs=4, hidden_layer_sizes=(8,), embedding_dim=2, random_state=0, verbose=verbose)
    return detector.fit(X)


def test_the_bar_counts_epochs_and_shows_the_loss(monkeypatch):
    terminal = Terminal()
    detector = fit_with(terminal, 1, monkeypatch)
    text = terminal.getvalue()
    assert "4/4" in text and "train_loss=" in text and "valid_loss=" in text
    # Nothing of the bar is left to pickle.
    assert dict(detector.net_.callbacks_)["print_log"].bar_ is None


def test_the_bar_stays_silent_at_verbose_zero(monkeypatch):
    terminal = Terminal()
    fit_with(terminal, 0, monkeypatch)
    assert terminal.getvalue() == ""


def test_plain_lines_carry_no_colour_codes(monkeypatch, capsys):
    fit_with(io.StringIO(), 1, monkeypatch)
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 2 + 4
    assert "\x1b" not in out and "\r" not in out
