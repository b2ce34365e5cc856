"""Notebook kernels (nbval, `tools/execute_notebooks.py`) start in book/, so a relative PYTHONPATH entry such as
`src` would resolve to book/src and silently import whatever other copy of the package is installed. Make the
entries absolute before any kernel starts."""

import os

if os.environ.get("PYTHONPATH"):
    os.environ["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) if p else p
                                               for p in os.environ["PYTHONPATH"].split(os.pathsep))
