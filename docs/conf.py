"""Sphinx configuration of the ibdetect documentation."""

import sys
from pathlib import Path

import ibdetect

# For gallery_order, next to this file.
sys.path.insert(0, str(Path(__file__).parent))

project = "ibdetect"
author = "The ibdetect developers"
copyright = "the ibdetect developers"
release = ibdetect.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = ["_build"]

# Every reference must resolve (make docs runs with -n), except those to other
# projects: the build runs offline, so there is no intersphinx inventory to
# link them to, and they are shown as plain names.
nitpicky = True
nitpick_ignore_regex = [
    ("py:.*", r"(numpy|sklearn|scipy|torch|skorch|matplotlib|joblib)(\..*)?"),
]

# -- API reference -------------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
# Methods that override torch or skorch ones without a docstring of their own
# stay out of the reference instead of showing the parent's text.
autodoc_inherit_docstrings = False
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# -- Gallery ---------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "within_subsection_order": "gallery_order.ExampleOrder",
    "doc_module": ("ibdetect",),
    "backreferences_dir": "gen_modules/backreferences",
    "reference_url": {"ibdetect": None},
    "remove_config_comments": True,
}

# -- HTML ------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"ibdetect {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_show_sourcelink = False

# Markdown pages (the benchmark results) get anchors on their headings.
myst_heading_anchors = 3
