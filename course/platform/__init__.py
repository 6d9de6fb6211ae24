"""The learner's course: where files live, the manifest, the workspace, progress, build, doctor, JupyterLab."""

from course._lazy import submodules

__getattr__ = submodules(__name__)
