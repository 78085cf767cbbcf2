"""The project's layering, checked on the source with ``ast`` (nothing is imported).

Rules (ARCHITECTURE.md):
- ``pipelines`` (the Dagster application) may import the libraries ``dedupe``, ``connectors`` and
  ``expectations``; no library imports ``pipelines``.
- ``dedupe`` imports neither Dagster nor another project package; ``expectations`` does not
  import ``connectors`` (connectors use its masking, so the arrow points one way).
- Inside ``dedupe``: ``normalize`` imports neither ``matching`` nor ``golden``, and ``golden``
  does not import ``matching`` (golden records depend on normalisation, not on match internals).
- No import cycle between the project's modules, counting imports inside functions too (a
  function-level import hides a cycle, it does not remove it). Imports under
  ``if TYPE_CHECKING:`` are for annotations only and are not counted.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipelines", "dedupe", "connectors", "expectations")

#: (importer prefix, forbidden import prefix, why)
RULES = (
    ("dedupe", "pipelines", "a library never imports the Dagster application"),
    ("connectors", "pipelines", "a library never imports the Dagster application"),
    ("expectations", "pipelines", "a library never imports the Dagster application"),
    ("dedupe", "dagster", "dedupe never imports Dagster"),
    ("dedupe", "dagster_dlt", "dedupe never imports Dagster"),
    ("dedupe", "connectors", "dedupe is the bottom library"),
    ("dedupe", "expectations", "dedupe is the bottom library"),
    ("expectations", "connectors", "connectors use expectations' masking, not the reverse"),
    ("dedupe.normalize", "dedupe.matching", "normalisation is below matching"),
    ("dedupe.normalize", "dedupe.golden", "normalisation is below golden records"),
    ("dedupe.golden", "dedupe.matching", "golden records depend on normalisation, not on match internals"),
)


@dataclass(frozen=True)
class Import:
    importer: str
    target: str      # the imported name, fully qualified (a module or a name inside one)
    line: int


def _is_under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def find_modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of ``packages`` under ``root``."""
    out = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    return {id(node) for stmt in tree.body
            if isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test)
            for node in ast.walk(stmt)}


def imports_of(module: str, path: Path) -> list[Import]:
    """Every import statement of a module, at any depth (``if TYPE_CHECKING:`` blocks skipped)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    skip = _type_checking_nodes(tree)
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [Import(module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            out.append(Import(module, base, node.lineno))
            out += [Import(module, f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return out


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    """The project module that defines ``name`` (the longest module prefix), None for third-party."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def layer_violations(imports: list[Import], rules=RULES) -> list[str]:
    return sorted({f"{i.importer}:{i.line} imports {i.target}: {why}"
                   for i in imports for who, banned, why in rules
                   if _is_under(i.importer, who) and _is_under(i.target, banned)})


def import_graph(imports: list[Import], modules: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for i in imports:
        owner = _owner(i.target, modules)
        if owner and owner != i.importer:
            graph[i.importer].add(owner)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
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
                    work.append((child, iter(sorted(graph.get(child, ())))))
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
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def check(root: Path, packages: tuple[str, ...] = PACKAGES, rules=RULES) -> tuple[list[str], list[list[str]]]:
    modules = find_modules(root, packages)
    imports = [i for module, path in modules.items() for i in imports_of(module, path)]
    return layer_violations(imports, rules), cycles(import_graph(imports, modules))


def test_the_project_keeps_its_layers_and_has_no_import_cycle():
    violations, circles = check(ROOT)
    assert violations == []
    assert circles == []


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_a_planted_violation_and_a_hidden_cycle_are_found(tmp_path):
    _write(tmp_path, {
        "dedupe/__init__.py": "",
        "dedupe/normalize/__init__.py": "",
        "dedupe/normalize/names.py": "def f():\n    from dedupe.matching import features  # hidden upward import\n",
        "dedupe/matching/__init__.py": "from .features import key\n",
        "dedupe/matching/features.py": "from ..normalize.names import f\n\n\ndef key():\n    import dagster\n",
        "pipelines/__init__.py": "",
        "pipelines/app.py": "import dedupe.matching\n",
        "pipelines/a.py": "from pipelines.b import x\n",
        "pipelines/b.py": "x = 1\n\n\ndef later():\n    from pipelines import a\n",
        "pipelines/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:  # annotations only: no cycle\n    from pipelines.app2 import y\n",
        "pipelines/app2.py": "from pipelines import typed\n",
    })
    violations, circles = check(tmp_path, ("dedupe", "pipelines"))
    assert violations == [
        "dedupe.matching.features:5 imports dagster: dedupe never imports Dagster",
        "dedupe.normalize.names:2 imports dedupe.matching.features: normalisation is below matching",
        "dedupe.normalize.names:2 imports dedupe.matching: normalisation is below matching",
    ]
    assert circles == [
        ["dedupe.matching", "dedupe.matching.features", "dedupe.normalize.names"],  # via a function-level import
        ["pipelines.a", "pipelines.b"],
    ]


def test_the_clean_synthetic_graph_passes(tmp_path):
    _write(tmp_path, {
        "dedupe/__init__.py": "from dedupe.matching import key\n",
        "dedupe/matching/__init__.py": "from dedupe.matching.features import key\n",
        "dedupe/matching/features.py": "import polars\nfrom dedupe.normalize import fold\n\n\ndef key(): ...\n",
        "dedupe/normalize/__init__.py": "def fold(): ...\n",
        "pipelines/__init__.py": "",
        "pipelines/app.py": "import dagster\nfrom dedupe import key\n",
    })
    assert check(tmp_path, ("dedupe", "pipelines")) == ([], [])
