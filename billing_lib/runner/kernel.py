"""The Jupyter kernel a run executes workbooks with: always the current Python interpreter.

``python3`` is used when it resolves to this interpreter (a kernelspec whose
command is plain ``python``/``python3`` is launched with ``sys.executable`` by
jupyter_client). When it points elsewhere (say a user-wide kernelspec of
another Python), a kernelspec for this interpreter is installed into
``sys.prefix`` under a name derived from its path, and that name is used.
"""
from __future__ import annotations

import hashlib
import os
import sys

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

from billing_lib.core.output import write_text_atomic

DEFAULT = "python3"
_PLAIN = {"python", f"python{sys.version_info[0]}", f"python{sys.version_info[0]}.{sys.version_info[1]}"}


def is_current_python(argv0: str) -> bool:
    if argv0 in _PLAIN:
        return True
    mine = os.path.normcase(os.path.abspath(sys.executable))
    theirs = os.path.normcase(os.path.abspath(argv0))
    # the same environment's python/python3/python3.X are the same interpreter
    return theirs == mine or (os.path.dirname(theirs) == os.path.dirname(mine)
                              and os.path.basename(theirs) in _PLAIN)


def _spec_argv0(manager: KernelSpecManager, name: str) -> str | None:
    try:
        spec = manager.get_kernel_spec(name)
    except NoSuchKernel:
        return None
    return spec.argv[0] if spec.argv else None


def kernel_for_this_python() -> str:
    """The name of a kernelspec that runs ``sys.executable`` (installing one into sys.prefix if needed)."""
    manager = KernelSpecManager()
    argv0 = _spec_argv0(manager, DEFAULT)
    if argv0 is not None and is_current_python(argv0):
        return DEFAULT
    name = "billing-" + hashlib.sha256(sys.prefix.encode("utf-8")).hexdigest()[:10]
    argv0 = _spec_argv0(manager, name)
    if argv0 is not None and is_current_python(argv0):
        return name
    from ipykernel.kernelspec import install
    install(kernel_name=name, display_name=f"Python ({sys.executable})", prefix=sys.prefix)
    # ipykernel writes plain "python"; make the spec name this interpreter explicitly
    import json
    from pathlib import Path
    spec_file = Path(sys.prefix, "share", "jupyter", "kernels", name, "kernel.json")
    spec = json.loads(spec_file.read_text(encoding="utf-8"))
    spec["argv"][0] = sys.executable
    write_text_atomic(spec_file, json.dumps(spec, indent=1))
    return name
