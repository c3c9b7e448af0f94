"""RNN Lab, installed under one name: ``rnnlab.core`` (the library and its command line) and ``rnnlab.dashboard``.

Why one name: ``pip install .`` used to put packages called ``core`` and ``dashboard`` at the top of
site-packages, where a project's own ``core`` package and ours shadow each other without a word from pip.
Installed, this package holds both (pyproject.toml maps the folders ``core/`` and ``dashboard/`` to
``rnnlab.core`` and ``rnnlab.dashboard``) and this file does nothing.

In a checkout the folders stay at the top of the repository, beside this one: when the folder above this
file holds pyproject.toml and core/__init__.py, it joins this package's search path, so ``rnnlab.core`` and
``rnnlab.dashboard`` are the checkout's ``core/`` and ``dashboard/`` with nothing installed.
"""

from pathlib import Path

_checkout = Path(__file__).resolve().parent.parent
if (_checkout / "pyproject.toml").is_file() and (_checkout / "core" / "__init__.py").is_file():
    __path__.append(str(_checkout))
