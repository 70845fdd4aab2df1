"""Sphinx configuration for the project's documentation (`make docs`; CI builds it with -W)."""

import os
import re
import sys
from pathlib import Path

import django
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent

project = "django-hybrid-recommendations"
# The one version source is recommendations/__init__.py (pyproject.toml reads it too).
release = re.search(
    r'__version__ = "([^"]+)"', (ROOT / "recommendations" / "__init__.py").read_text()
).group(1)
version = release
author = "The django-hybrid-recommendations authors"
copyright = "the django-hybrid-recommendations authors"

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.extlinks"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = f"{project} {release}"
html_permalinks_icon = "#"

# The API reference (api.md) imports the app, so Django is set up with the least that lets its
# modules import: no database is opened and no setting of a shop is needed.
sys.path.insert(0, str(ROOT))
if not settings.configured:
    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "recommendations"],
        DATABASES={},
        USE_TZ=True,
    )
django.setup()

autodoc_member_order = "bysource"
autodoc_typehints = "description"
# In docstrings `name` is a cross-reference where the name is documented, code otherwise.
default_role = "py:obj"

# Links to the documentation of Django, Celery and boto3 are references, never required
# reading: the docs are read offline, and the build fetches nothing. The roles below make
# well-formed URLs without a fetch ({django}`topics/testing/tools/#overriding-settings`);
# tests/repo/test_docs.py checks their form. DOCS_INTERSPHINX=1 also turns on intersphinx, which
# downloads those projects' objects.inv at build time and so needs the network: off by default.
EXTERNAL_DOCS = {
    "django": "https://docs.djangoproject.com/en/stable/",
    "celery": "https://docs.celeryq.dev/en/stable/",
    "boto3": "https://boto3.amazonaws.com/v1/documentation/api/latest/",
}
extlinks = {name: (f"{base}%s", None) for name, base in EXTERNAL_DOCS.items()}
if os.environ.get("DOCS_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "django": (
            "https://docs.djangoproject.com/en/stable/",
            "https://docs.djangoproject.com/en/stable/_objects/",
        ),
        "celery": (EXTERNAL_DOCS["celery"], None),
        "boto3": (EXTERNAL_DOCS["boto3"], None),
    }
