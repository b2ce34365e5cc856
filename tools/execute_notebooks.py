"""Execute notebooks top to bottom on a fresh kernel, in place, from stored results (what nbval then checks).

Usage: python tools/execute_notebooks.py [book/*.ipynb ...]
"""

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

os.environ.setdefault("LANDSCAPE_COMPUTE", "never")  # outputs must come from stored results
# kernels start in book/: a relative PYTHONPATH entry (e.g. `src`) would import another installed copy of the package
if os.environ.get("PYTHONPATH"):
    os.environ["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) if p else p
                                               for p in os.environ["PYTHONPATH"].split(os.pathsep))
paths = [Path(p) for p in sys.argv[1:]] or sorted(Path("book").glob("*.ipynb"))
for path in paths:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=900, resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(nb, path)
    print(f"executed {path}")
