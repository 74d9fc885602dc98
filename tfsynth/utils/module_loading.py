"""Loading one module of a large package without running the package's own __init__.

tf-models-official's `official/vision/__init__.py` imports every vision config and task to register them, about
0.8 s of a 2-core machine's start-up, while tfsynth needs only `official.vision.dataloaders.tf_example_decoder`
(TensorFlow and a small base class). `import_without_package_init` loads such a module under a bare stand-in for
the package and then takes every module it added out of sys.modules again: the caller keeps its module object, and
anyone who imports the package later in the same process gets it whole, its __init__ run as usual.

What that costs, and why it is acceptable for the one module loaded this way: a later real import makes second
copies of the modules loaded here, so `isinstance` against the real package's classes is False for ours, and
pickle cannot find our copy's classes and functions by name. tfsynth neither pickles the decoder nor checks it
against official's classes. The stand-in is in sys.modules only while the module loads, at tfsynth's own import
(the import system locks each module, not this window): a thread that imported official.vision at that very moment
would get the bare stand-in.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types


def import_without_package_init(module_name: str, package_name: str) -> types.ModuleType:
    """The module `module_name` (inside `package_name`), loaded without executing `package_name/__init__.py`.

    When the package is already imported, this is a plain import. Otherwise the package's parents are imported as
    usual, the package itself only as an empty module with its search path, and no module loaded here stays in
    sys.modules afterwards (the returned module and what it references stay alive through the caller)."""
    if not module_name.startswith(package_name + "."):
        raise ValueError(f"{module_name!r} is not inside the package {package_name!r}")
    if package_name in sys.modules:
        return importlib.import_module(module_name)
    spec = importlib.util.find_spec(package_name)
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError(f"{package_name!r} is not an installed package")
    before = set(sys.modules)
    sys.modules[package_name] = importlib.util.module_from_spec(spec)  # its search path, nothing executed
    try:
        return importlib.import_module(module_name)
    finally:
        for name in set(sys.modules) - before:
            if name == package_name or name.startswith(package_name + "."):
                del sys.modules[name]
