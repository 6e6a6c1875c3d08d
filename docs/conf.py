"""
Sphinx configuration: MyST Markdown, furo, autodoc with napoleon (Google style).
"""

from importlib.metadata import version as _version


project = "twupload"
author = "The twupload developers"
copyright = "2026, The twupload developers"
release = _version("twupload")
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]
source_suffix = {".md": "markdown"}
master_doc = "index"
exclude_patterns = ["_build"]
myst_heading_anchors = 3
html_theme = "furo"
html_title = "twupload"

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
nitpicky = True
# Names that Sphinx cannot resolve without intersphinx (CI has no network).
nitpick_ignore_regex = [
    (r"py:.*", r"(httpx|anyio|datetime|dt|collections\.abc|typing|os|enum)\..*"),
    (
        r"py:.*",
        r"(Callable|Awaitable|Iterable|AsyncIterable|AsyncIterator|Mapping|Sequence)",
    ),
    (r"py:.*", r"(S|SourceT|MediaCategory|RateLimitStore|ProcessingInfo)"),
    (r"py:.*", r"(RateLimit|TaskGroup|ProcessingMode|MediaSource|ProgressCallback|IO)"),
    (
        r"py:.*",
        r"(ErrorPair|Self|int \| None|str \| None|Kind|TracebackType|ValueError|Exception)",
    ),
    (r"py:.*", r"twupload\._.*"),
]
