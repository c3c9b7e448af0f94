"""Static pictures of figures (PNG, SVG) made on this machine, and one plain line when they cannot be.

Plotly renders a static image with kaleido, and kaleido 1.x drives a Chrome or Chromium: its own download
(``plotly_get_chrome``), the one ``BROWSER_PATH`` names, or one installed the usual way. Where none is found,
the dashboard still saves SVGs in the browser (the camera button over each chart) and the seed report still
holds each figure's data as CSV; both say why the server made no picture with :func:`problem_line`.

kaleido and choreographer (its browser driver) are imported inside the functions: ``core`` stays importable
without them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

GET_CHROME = "run `plotly_get_chrome` (or `kaleido.get_chrome_sync()` in Python), or set BROWSER_PATH to a Chromium"
NO_CHROME = f"static images on the server need kaleido's Chrome, and none was found: {GET_CHROME}"
NO_KALEIDO = 'static images on the server need kaleido: pip install "kaleido>=1"'


def find_chrome() -> str | None:
    """The browser kaleido would drive, found the way kaleido finds it; None when there is none."""
    try:
        from choreographer.browsers import Chromium  # kaleido's driver: its lookup is the one that counts
    except ImportError:
        return None
    path = Chromium.find_browser(skip_local=False)
    return str(path) if path and Path(path).is_file() else None


def unavailable() -> str | None:
    """Why static images cannot be rendered here (one line with the fix), or None when kaleido has a Chrome."""
    if importlib.util.find_spec("kaleido") is None:
        return NO_KALEIDO
    return None if find_chrome() else NO_CHROME


def problem_line(error: BaseException) -> str:
    """One plain line for a failed render: the cause and the fix, instead of an exception's name.

    kaleido raises ``ChromeNotFoundError`` without a browser; Plotly's ``fig.to_image`` turns it into a
    ``RuntimeError`` telling to run ``plotly_get_chrome``, and raises one naming kaleido when kaleido is missing.
    """
    text = str(error)
    if any(c.__name__ == "ChromeNotFoundError" for c in type(error).__mro__) or "get_chrome" in text:
        return NO_CHROME
    if isinstance(error, ImportError) or "requires the Kaleido package" in text:
        return NO_KALEIDO
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"kaleido could not render it ({type(error).__name__}{': ' + first[:200] if first else ''})"
