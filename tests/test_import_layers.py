"""Imports between tfsynth's modules flow one way, down the layers below, and form no cycle.

Every module of tfsynth/ is parsed with `ast` (nothing is imported, so this runs in a second): its imports of
tfsynth modules at module level, inside functions, and under `if TYPE_CHECKING:` alike. A function-local import
is still a dependency: it may keep an optional heavy package from loading, but it must not hide an upward edge or
a cycle. A failure names the importing file, its line and the imported module.

Run it as a command to print the graph (layers, upward edges, cycles), e.g. on another checkout:

    python tests/test_import_layers.py [REPO_ROOT]
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import pathlib
import sys
from typing import Iterable, Optional

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

# Lowest first. A module may import modules of its own layer or of a lower one, never of a higher one. A module
# belongs to the layer of the longest prefix that names it. The order and what each layer holds are explained in
# WORKSPACE.md ("Layers").
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("root", ("tfsynth",)),  # tfsynth/__init__.py: __version__ only, so anything may read it
    ("protos", ("tfsynth.protos",)),
    ("utils", ("tfsynth.utils",)),
    ("core", ("tfsynth.core",)),
    ("data", ("tfsynth.data",)),
    ("models", ("tfsynth.models",)),
    ("meta_architectures", ("tfsynth.meta_architectures",)),
    ("builders", ("tfsynth.builders",)),
    ("eval", ("tfsynth.eval",)),
    ("training", ("tfsynth.training",)),
    ("export, pretrained", ("tfsynth.export", "tfsynth.pretrained")),
    ("commands", ("tfsynth.convert", "tfsynth.inspect", "tfsynth.detect", "tfsynth.model_main_tf2",
                  "tfsynth.exporter_main_v2", "tfsynth.export_tflite", "tfsynth.experiments", "tfsynth.main_job",
                  "tfsynth.system_check", "tfsynth.generate", "tfsynth.catalog", "tfsynth.studies",
                  "tfsynth.datasets")),
]

# (importing module, imported module) -> why this upward import is accepted. Empty: there is none.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {}

# Layers that build or run models from arguments, never from configuration messages: proto reading is the
# builders' job (a message's fields are checked, and named in errors, in one place).
NO_PROTO_LAYERS = ("core", "models", "meta_architectures")
_PROTO_METHODS = {"HasField", "WhichOneof", "ListFields", "DESCRIPTOR", "ParseFromString", "CopyFrom"}


@dataclasses.dataclass(frozen=True)
class Import:
    """One import of a tfsynth module: who imports what, where, and whether inside a function."""

    importer: str
    imported: str
    path: str
    line: int
    in_function: bool

    def where(self) -> str:
        kind = "function-local import" if self.in_function else "import"
        return f"{self.path}:{self.line}: {self.importer} -> {self.imported} ({kind})"


def module_files(root: pathlib.Path = REPO_ROOT) -> dict[str, pathlib.Path]:
    """Dotted module name -> file, for every .py file under root/tfsynth."""
    modules = {}
    for path in sorted((root / "tfsynth").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _function_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes that sit inside a function or lambda (run on call, not on import)."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            inside.update(id(child) for child in ast.walk(node) if isinstance(child, (ast.Import, ast.ImportFrom)))
    return inside


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module name of a `from ... import` (relative ones resolved against `module`)."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level > 1:
        base = base[:-(node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


@functools.lru_cache(maxsize=None)  # parsed once per root for all the tests
def imports(root: pathlib.Path = REPO_ROOT) -> tuple[Import, ...]:
    """Every import of a tfsynth module by a tfsynth module. `from P import name` counts as an import of P.name
    when that is a module, else of P."""
    modules = module_files(root)
    found = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        in_function = _function_nodes(tree)
        relative = str(path.relative_to(root))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = _resolve(module, path.name == "__init__.py", node)
                targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                           for alias in node.names]
            else:
                continue
            for target in dict.fromkeys(targets):  # `from p import a, b` of one module: one edge
                if target == "tfsynth" or target.startswith("tfsynth."):
                    found.append(Import(module, target, relative, node.lineno, id(node) in in_function))
    return tuple(found)


def layer_of(module: str) -> Optional[int]:
    """Index in LAYERS of the layer that holds `module` (longest matching prefix), or None."""
    best, best_length = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_length:
                best, best_length = index, len(prefix)
    return best


def upward_imports(edges: Iterable[Import]) -> list[Import]:
    """The imports that go from a lower layer to a higher one and are not in ALLOWED_UPWARD."""
    return [edge for edge in edges
            if layer_of(edge.importer) is not None and layer_of(edge.imported) is not None
            and layer_of(edge.imported) > layer_of(edge.importer)
            and (edge.importer, edge.imported) not in ALLOWED_UPWARD]


def cycles(edges: Iterable[Import]) -> list[list[str]]:
    """The strongly connected components of more than one module (or a module importing itself), each sorted:
    every such component holds at least one import cycle. Tarjan's algorithm, iterative."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.importer, set()).add(edge.imported)
        graph.setdefault(edge.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph[node]:
                    components.append(sorted(component))
    return sorted(components)


def package_of(module: str) -> str:
    """tfsynth.training.model_lib -> tfsynth.training; a top-level module (tfsynth.convert) is its own."""
    return ".".join(module.split(".")[:2])


def package_cycles(edges: Iterable[Import]) -> list[list[str]]:
    """cycles() of the graph whose nodes are packages (tfsynth.eval, tfsynth.training, ...): two packages that
    import each other form a knot even when no two modules do."""
    return cycles(dataclasses.replace(edge, importer=package_of(edge.importer), imported=package_of(edge.imported))
                  for edge in edges if package_of(edge.importer) != package_of(edge.imported))


def _describe_cycle(component: list[str], edges: list[Import]) -> str:
    members = set(component)
    inside = [edge.where() for edge in edges if edge.importer in members and edge.imported in members]
    return "cycle among " + ", ".join(component) + ":\n    " + "\n    ".join(sorted(set(inside)))


def test_every_module_has_a_layer():
    unplaced = sorted(module for module in module_files() if layer_of(module) is None)
    assert not unplaced, f"modules in no layer (add their package to LAYERS in {__file__}): {unplaced}"


def test_the_root_package_imports_nothing_of_tfsynth():
    # Everything may import `tfsynth` (for __version__) only while it imports nothing of the project itself.
    assert [edge.where() for edge in imports() if edge.importer == "tfsynth"] == []


def test_imports_flow_down_the_layers():
    upward = upward_imports(imports())
    assert not upward, "imports against the layer order (" + " < ".join(name for name, _ in LAYERS) + "):\n" + \
        "\n".join(f"{edge.where()}: {LAYERS[layer_of(edge.importer)][0]} imports {LAYERS[layer_of(edge.imported)][0]}"
                  for edge in upward)


def test_no_import_cycles():
    edges = imports()
    found = cycles(edges)
    assert not found, "\n".join(_describe_cycle(component, edges) for component in found)


def test_allowed_upward_imports_still_exist():
    # An exception that no longer happens is removed from the list, so the list stays a list of real ones.
    existing = {(edge.importer, edge.imported) for edge in imports()}
    assert [pair for pair in ALLOWED_UPWARD if pair not in existing] == []


def test_protos_are_read_only_in_builders_and_above():
    problems = []
    for edge in imports():
        layer = layer_of(edge.importer)
        if LAYERS[layer][0] in NO_PROTO_LAYERS and edge.imported.startswith("tfsynth.protos"):
            problems.append(edge.where())
    for module, path in module_files().items():
        if LAYERS[layer_of(module)][0] not in NO_PROTO_LAYERS:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in _PROTO_METHODS:
                problems.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}: {module} reads a message (.{node.attr})")
    assert not problems, "configuration messages read below builders/:\n" + "\n".join(problems)


def test_meta_architecture_registry_is_one_table():
    # model_builder.META_ARCH_BUILDERS is written where it is defined, nowhere else: no builder registers itself
    # as a side effect of being imported.
    writes = []
    for module, path in module_files().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            for target in targets:
                if isinstance(target, ast.Subscript):
                    base = target.value
                    name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", None)
                    if name == "META_ARCH_BUILDERS":
                        writes.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}: {module}")
    assert not writes, "META_ARCH_BUILDERS written outside its table:\n" + "\n".join(writes)


def report(root: pathlib.Path) -> str:
    """The graph in words: module and import counts, function-local imports, upward imports, cycles."""
    edges = imports(root)
    modules = module_files(root)
    upward = upward_imports(edges)
    found = cycles(edges)
    local = [edge for edge in edges if edge.in_function]
    lines = [f"{len(modules)} modules, {len(edges)} imports of tfsynth modules ({len(local)} function-local)",
             "layers: " + " < ".join(name for name, _ in LAYERS),
             f"upward imports: {len(upward)}"]
    lines += [f"  {edge.where()}" for edge in upward]
    lines.append(f"cycles: {len(found)}")
    lines += ["  " + _describe_cycle(component, edges) for component in found]
    knots = package_cycles(edges)
    lines.append(f"package cycles: {len(knots)}")
    for component in knots:
        members = set(component)
        lines.append("  knot among " + ", ".join(component) + ":")
        pairs: dict[tuple[str, str], int] = {}
        for edge in edges:
            pair = (package_of(edge.importer), package_of(edge.imported))
            if pair[0] != pair[1] and set(pair) <= members:
                pairs[pair] = pairs.get(pair, 0) + 1
        lines += [f"    {a} -> {b}: {count} imports" for (a, b), count in sorted(pairs.items())]
    unplaced = sorted(module for module in modules if layer_of(module) is None)
    if unplaced:
        lines.append(f"modules in no layer: {unplaced}")
    lines.append("function-local imports:")
    lines += [f"  {edge.where()}" for edge in local]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(pathlib.Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else REPO_ROOT))
