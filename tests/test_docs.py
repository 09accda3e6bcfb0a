import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import ibdetect

API_PAGE = Path(__file__).resolve().parents[1] / "docs" / "api.rst"


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
