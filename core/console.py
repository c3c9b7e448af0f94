"""The ``rnnlab`` command (installed by ``pip install .``): ``python -m core`` under that name.

What it is: :func:`main`, the console script, with the same parser and commands as ``python -m core``
(:mod:`core.__main__`); ``rnnlab app`` starts the dashboard (:mod:`core.app`).
"""

from __future__ import annotations

import sys

import rnnlab.core.__main__ as cli


def main(argv: list[str] | None = None) -> int:
    """The ``rnnlab`` console script: ``python -m core`` named ``rnnlab``."""
    return cli.main(argv, prog="rnnlab")


if __name__ == "__main__":
    sys.exit(main())
