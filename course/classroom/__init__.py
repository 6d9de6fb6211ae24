"""An instructor's class through nbgrader: the class folder and its commands (core), parallel autograding
(autograde), the JupyterHub set-up (hub), generated sample submissions (samples) and ``course classroom`` (cli)."""

from course._lazy import submodules

__getattr__ = submodules(__name__)
