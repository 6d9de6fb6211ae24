"""Lazy submodules for the course's packages: ``course.components.servers`` imports on first use.

Every package of ``course`` sets ``__getattr__ = submodules(__name__)``, so ``import course`` stays cheap (an
exercise's setup cell imports only the check helpers) while ``course.components.servers.stop_all()`` still
works after a plain ``import course``.
"""

from __future__ import annotations

from importlib import import_module


def submodules(package: str):
    """A module-level ``__getattr__`` that imports ``package.NAME`` when NAME is first asked for."""

    def __getattr__(name: str):
        try:
            return import_module(f"{package}.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"{package}.{name}":
                raise  # a module of ours exists but something it needs is missing: say that, not "no attribute"
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None

    return __getattr__
