"""course.grading.process: a grading process keeps out what grading never uses (Jupyter server extensions,
setuptools, jsonschema's format-only packages) and still validates as before; nbgrader's metadata check checks
its own schema once. Each test runs its code in a fresh Python, as a grading process starts."""

from __future__ import annotations

import sys
from pathlib import Path


def test_a_grading_process_imports_no_jupyter_server_and_loads_the_real_extension_if_asked(tmp_path):
    """nbgrader's package imports its server extensions (jupyter_server, nbgrader.apps, the exchange) and
    setuptools (to unzip): a grading process uses none of them, so placeholders stand in; whoever calls one
    gets the real one."""
    code = (
        "import sys\nfrom course.grading.process import prepare_grading_process\nprepare_grading_process()\n"
        "import nbgrader, nbgrader.converters, nbgrader.api, nbgrader.preprocessors, course.grading.preprocessors\n"
        "print(sorted(m for m in ('jupyter_server', 'nbgrader.apps', 'nbgrader.exchange', 'setuptools')\n"
        "             if m in sys.modules))\n"
        "name = 'nbgrader.server_extensions.formgrader'\nplaceholder = sys.modules[name]\n"
        "try:\n    placeholder.load_jupyter_server_extension(None)\nexcept Exception:\n    pass\n"
        "print(sys.modules[name] is not placeholder, 'jupyter_server' in sys.modules)\n"
        "import nbgrader.utils, zipfile, pathlib\n"
        "zipfile.ZipFile('a.zip', 'w').writestr('x.txt', 'unpacked')\n"
        "pathlib.Path('out').mkdir()\nnbgrader.utils.unzip('a.zip', 'out')\n"
        "print(pathlib.Path('out/x.txt').read_text(), 'setuptools' in sys.modules)\n")
    assert _printed_by_a_grading_process(code, tmp_path)[:3] == ["[]", "True True", "unpacked True"]


def _printed_by_a_grading_process(code: str, folder: Path) -> list[str]:
    """The lines ``code`` prints, run in a fresh Python (a grading process: it calls prepare_grading_process)."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=folder)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split("\n")


def test_a_grading_process_skips_jsonschemas_format_only_packages_and_still_validates(tmp_path):
    """The optional packages jsonschema imports only to check string formats stay out of a grading process
    (process.FORMAT_ONLY); nbformat and nbgrader's metadata check validate as before (neither checks formats)."""
    code = (
        "import sys\nfrom course.grading.process import FORMAT_ONLY, prepare_grading_process\n"
        "prepare_grading_process()\nimport jsonschema, nbformat\n"
        "print([m for m in FORMAT_ONLY if sys.modules.get(m) is not None])\n"
        "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1')])\nnbformat.validate(nb)\n"
        "del nb.cells[0]['source']\n"
        "try:\n    nbformat.validate(nb)\nexcept nbformat.ValidationError:\n    print('refused')\n"
        "from nbgrader.nbgraderformat import MetadataValidator\n"
        "cell = nbformat.v4.new_code_cell('1', metadata={'nbgrader': {'schema_version': 3, 'grade': 'yes',\n"
        "    'solution': False, 'locked': True, 'grade_id': 'a', 'points': 1, 'task': False}})\n"
        "try:\n    MetadataValidator().validate_cell(cell)\nexcept Exception as error:\n"
        "    print('nbgrader refused', type(error).__name__)\n")
    assert _printed_by_a_grading_process(code, tmp_path)[:3] == ["[]", "refused", "nbgrader refused ValidationError"]


def test_nbgraders_metadata_check_with_each_schema_checked_once_raises_what_jsonschema_raises(tmp_path):
    """process.check_each_schema_once: nbgrader's metadata check skips re-checking its own schema on every cell,
    and still refuses what jsonschema.validate refuses, with the same error, every time."""
    code = (
        "import jsonschema, nbformat\nfrom course.grading import process\nfrom nbgrader.nbgraderformat import "
        "MetadataValidator\nimport nbgrader.nbgraderformat.common as common\n"
        "meta = {'schema_version': 3, 'grade': 'yes', 'solution': False, 'locked': True, 'grade_id': 'a',\n"
        "        'points': 1, 'task': False}\nvalidator = MetadataValidator()\n"
        "try:\n    jsonschema.validate(meta, validator.schema)\nexcept jsonschema.ValidationError as error:\n"
        "    expected = error.message\n"
        "process.check_each_schema_once()\nprint(common.jsonschema is not jsonschema)\n"
        "for metadata in (meta, dict(meta, grade=True), meta):\n"
        "    try:\n        validator.validate_cell(nbformat.v4.new_code_cell('1', metadata={'nbgrader': metadata}))\n"
        "        print('valid')\n    except jsonschema.ValidationError as error:\n"
        "        print(error.message == expected)\n"
        "print(len(process._VALIDATORS))\n")
    assert _printed_by_a_grading_process(code, tmp_path)[:5] == ["True", "True", "valid", "True", "1"]
