"""The package's layers, as the import-linter contracts in pyproject.toml declare them."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="needs import-linter (the test extra)")


def lint_imports(root):
    """Run the contracts on the package under ``root``: the exit code and the report."""
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(root / "pyproject.toml")],
        cwd=root, env={"PYTHONPATH": str(root), "PATH": ""}, capture_output=True, text=True,
    )
    return result.returncode, result.stdout + result.stderr


def test_the_package_keeps_its_layers():
    returncode, report = lint_imports(ROOT)
    assert returncode == 0, report
    assert "0 broken" in report


@pytest.mark.parametrize("module, line, broken", [
    # The net trains and embeds: it knows no scoring.
    ("_net.py", "from . import _anomaly_score", "ibdetect._net is not allowed to import ibdetect._anomaly_score"),
    # A loss is plain torch.
    ("losses.py", "import skorch", "ibdetect.losses is not allowed to import skorch"),
    # The library knows no command line.
    ("_estimator.py", "from . import cli", "ibdetect._estimator is not allowed to import ibdetect.cli"),
    # The estimator, taken from the package as users take it, is still the estimator.
    ("_distances.py", "from . import IBDeepDescription", "ibdetect._distances is not allowed to import ibdetect._estimator"),
])
def test_a_lower_layer_importing_a_higher_one_breaks_the_contract(tmp_path, module, line, broken):
    shutil.copytree(ROOT / "ibdetect", tmp_path / "ibdetect", ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with open(tmp_path / "ibdetect" / module, "a") as file:
        file.write(f"\n{line}\n")
    returncode, report = lint_imports(tmp_path)
    assert returncode != 0
    assert broken in " ".join(report.split())


@pytest.mark.parametrize("path", sorted((ROOT / "ibdetect").rglob("*.py")), ids=lambda path: path.name)
def test_no_module_outgrows_one_concern(path):
    # Past about 800 lines a module holds more than one concern: split it by
    # concern (docs/contributing.rst) before it grows further.
    assert len(path.read_text().splitlines()) <= 800
