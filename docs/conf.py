"""Sphinx configuration for the project's documentation (`make docs`; CI builds it with -W)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

project = "django-hybrid-recommendations"
# The one version source is recommendations/__init__.py (pyproject.toml reads it too).
release = re.search(
    r'__version__ = "([^"]+)"', (ROOT / "recommendations" / "__init__.py").read_text()
).group(1)
version = release
author = "The django-hybrid-recommendations authors"
copyright = "the django-hybrid-recommendations authors"

extensions = ["myst_parser"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = f"{project} {release}"
# The docs travel with the repository and are read offline: nothing is fetched from elsewhere.
html_permalinks_icon = "#"
