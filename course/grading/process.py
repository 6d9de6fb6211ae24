"""Set up a process that grades, before nbgrader is imported: faster notebook validation, optional packages
and server extensions grading never uses kept out, and nbgrader's metadata check made to check its own schema
once. ``course grade`` and ``course classroom autograde`` call :func:`prepare_grading_process` first;
:mod:`course.grading.grader` calls :func:`check_each_schema_once` once nbgrader is imported.
"""

from __future__ import annotations

import json
import os
import sys

__all__ = ["prepare_grading_process", "check_each_schema_once", "SERVER_EXTENSIONS", "FORMAT_ONLY"]


def prepare_grading_process() -> None:
    """Make a process that only grades start faster; called first by the ``course grade`` command.

    - nbformat validates notebooks with its documented faster validator, fastjsonschema (installed with
      nbformat), instead of jsonschema: nbgrader reads and writes the notebook several times.
    - jsonschema does not import ``rfc3987_syntax``: when installed, that optional package builds a full
      grammar parser at import (over a second) only to check the "iri" string format, which notebook schemas
      never use; jsonschema then checks "iri" as it does when the package is absent. Nor the other optional
      packages it imports only to check string formats (:data:`FORMAT_ONLY`: about 40 ms, isoduration with
      all of arrow): jsonschema checks formats only when given a format checker, and nothing that grades
      gives one (nbformat validates with fastjsonschema, nbgrader's metadata check calls
      ``jsonschema.validate`` without one); each is imported by jsonschema alone.
    - nbgrader's package imports its four Jupyter server extensions (their tornado handlers pull in
      jupyter_server, nbgrader.apps and the exchange), a large share of what grading spends importing, for
      nothing grading uses: a placeholder stands in for each, which imports the real one if it is ever loaded.
      Likewise ``setuptools.archive_util`` (with all of setuptools), which nbgrader.utils imports for
      unpacking zipped submissions (``nbgrader zip_collect``), never for grading.
    - every kernel it starts gets :data:`course.grading.nbconfig.KERNEL_ENV` (no bytecode caching), also those
      nbclient starts itself (a restart, a class graded without the sandbox).
    """
    from course.grading.nbconfig import KERNEL_ENV

    os.environ.setdefault("NBFORMAT_VALIDATOR", "fastjsonschema")
    os.environ.update(KERNEL_ENV)
    if "jsonschema" not in sys.modules:
        for name in ("rfc3987_syntax", *FORMAT_ONLY):
            sys.modules.setdefault(name, None)
    if "nbgrader" not in sys.modules:
        for name in SERVER_EXTENSIONS:
            _placeholder(f"nbgrader.server_extensions.{name}", ["load_jupyter_server_extension"])
        if "setuptools" not in sys.modules:
            _placeholder("setuptools.archive_util", ["unpack_archive", "unpack_tarfile", "unpack_zipfile"])


SERVER_EXTENSIONS = ("assignment_list", "course_list", "validate_assignment", "formgrader")
# Optional packages jsonschema imports (in jsonschema._format) only to check string formats.
FORMAT_ONLY = ("isoduration", "rfc3986_validator", "rfc3339_validator", "webcolors", "uri_template", "fqdn")


def check_each_schema_once() -> None:
    """nbgrader checks every cell's nbgrader metadata with ``jsonschema.validate``, which first checks the schema
    itself against its meta-schema: the same schema every time, dozens of times a notebook, twice (39 ms of
    autograde on exercise 01). In this process nbgrader's metadata check calls :func:`_validate` instead, the
    same validation but for a schema checked once (per content): same errors, same best match raised."""
    import types

    import jsonschema
    import nbgrader.nbgraderformat.common as common

    if isinstance(common.jsonschema, types.ModuleType) and common.jsonschema is jsonschema:
        proxy = types.ModuleType("jsonschema", "jsonschema, with validate() checking each schema once "
                                               "(course.grading.process.check_each_schema_once)")
        proxy.__dict__.update(vars(jsonschema))
        proxy.validate = _validate
        common.jsonschema = proxy


_VALIDATORS: dict[str, object] = {}


def _validate(instance, schema, cls=None, *args, **kwargs) -> None:
    """``jsonschema.validate``, with the schema's own check made once per schema content and validator class."""
    from jsonschema import exceptions, validators

    cls = cls if cls is not None else validators.validator_for(schema)
    key = f"{cls.__module__}.{cls.__qualname__} {args!r} {sorted(kwargs.items())!r} " + json.dumps(
        schema, sort_keys=True)
    validator = _VALIDATORS.get(key)
    if validator is None:
        cls.check_schema(schema)
        validator = _VALIDATORS[key] = cls(schema, *args, **kwargs)
    error = exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        raise error


def _placeholder(full: str, functions: list[str]) -> None:
    """Put a module in ``sys.modules`` standing in for ``full``, whose ``functions`` import the real module
    (and put it in its place) the first time one is called."""
    import importlib
    import types

    module = types.ModuleType(full, "placeholder of the course's grading process (course.grading.process)")

    def real():
        if sys.modules.get(full) is module:
            del sys.modules[full]
        return importlib.import_module(full)

    for name in functions:
        setattr(module, name, lambda *args, _name=name, **kwargs: getattr(real(), _name)(*args, **kwargs))
    sys.modules.setdefault(full, module)
