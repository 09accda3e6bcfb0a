import csv
import importlib
import pkgutil
import re
import shlex
import textwrap
from pathlib import Path

import pytest

import ibdetect
from ibdetect.cli import main
from ibdetect.metrics import anomaly_roc_auc_score

API_PAGE = Path(__file__).resolve().parents[1] / "docs" / "api.rst"
CLI_PAGE = API_PAGE.with_name("cli.rst")


def documented_names():
    """Fully qualified names in the autosummary tables of the API reference."""
    names, module = set(), None
    for line in API_PAGE.read_text().splitlines():
        current = re.match(r"\.\. currentmodule:: (\S+)$", line)
        if current:
            module = current[1]
        elif re.match(r" {3}[A-Za-z]\w*$", line):
            names.add(f"{module}.{line.strip()}")
    return names


PUBLIC_MODULES = ["ibdetect"] + [
    f"ibdetect.{info.name}" for info in pkgutil.iter_modules(ibdetect.__path__) if not info.name.startswith("_")
]


def is_documented(module, name, documented):
    """Documented under this module, under the public module that defines it, or as the package's re-export."""
    obj = getattr(module, name)
    reexported = getattr(ibdetect, name, None) is obj
    home = getattr(obj, "__module__", module.__name__)
    return (
        f"{module.__name__}.{name}" in documented
        or f"{home}.{name}" in documented
        or (reexported and f"ibdetect.{name}" in documented)
    )


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_api_reference_lists_every_public_name(module_name):
    module = importlib.import_module(module_name)
    public = [name for name in module.__all__ if not name.startswith("_")]
    assert public
    documented = documented_names()
    assert [name for name in public if not is_documented(module, name, documented)] == []


def code_blocks(page, language):
    """The dedented code blocks of one language in a reStructuredText page, in order."""
    blocks = re.findall(rf"^\.\. code-block:: {language}\n\n((?:(?: {{3}}.*)?\n)+)", page.read_text(), re.MULTILINE)
    return [textwrap.dedent(block) for block in blocks]


def test_the_command_line_pages_wine_walkthrough_runs_as_written(tmp_path, monkeypatch):
    (script,) = [block for block in code_blocks(CLI_PAGE, "python") if "load_wine" in block]
    commands = [
        shlex.split(line)[1:] for block in code_blocks(CLI_PAGE, "bash") for line in block.splitlines()
        if (line.startswith("ibdetect ") and "wines.csv" in line) or line == "ibdetect info model.ibdetect"
    ]
    assert [command[0] for command in commands] == ["fit", "score", "info", "explain"]
    monkeypatch.chdir(tmp_path)
    exec(script, {})
    for command in commands:
        assert main(command) == 0, command
    with open("scores.csv", newline="") as file:
        scores = list(csv.reader(file))
    assert scores[0] == ["decision_function", "prediction", "nearest_class"]
    # The third cultivar, never seen in training, ends the file: its 48 wines rank as anomalies.
    labels = [0] * (len(scores) - 1 - 48) + [-1] * 48
    assert anomaly_roc_auc_score(labels, [float(row[0]) for row in scores[1:]]) > 0.85
    with open("why.csv", newline="") as file:
        header = next(csv.reader(file))
    assert header[:4] == ["distance", "prediction", "nearest_class", "pvalue"]
