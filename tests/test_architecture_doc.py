"""The project's own documents stay true to the code: docs/architecture.md, error classes, docstrings.

Pure reads of the source tree (ast and text); nothing is imported but the standard library.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "perfgate"
DOC = ROOT / "docs" / "architecture.md"


def _modules() -> dict[str, Path]:
    """Every module of the package as a dotted name (``perfgate.faults.link``) -> its file."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _trees() -> dict[str, ast.Module]:
    return {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in _modules().items()}


def _raised_and_bases() -> tuple[set[str], dict[str, set[str]]]:
    """Names of raised classes anywhere in the package, and each class's base-class names."""
    raised: set[str] = set()
    bases: dict[str, set[str]] = {}
    for tree in _trees().values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and node.exc is not None:
                target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(target, ast.Name):
                    raised.add(target.id)
                elif isinstance(target, ast.Attribute):
                    raised.add(target.attr)
            elif isinstance(node, ast.ClassDef):
                bases[node.name] = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
    return raised, bases


def _ancestors(name: str, bases: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(bases.get(current, ()))
    return seen


def test_every_error_class_is_raised_somewhere():
    """An error class that nothing raises (as ``Interrupted`` was) documents behaviour that does not exist."""
    tree = ast.parse((PACKAGE / "errors.py").read_text(encoding="utf-8"))
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    raised, bases = _raised_and_bases()
    covered = set().union(*(_ancestors(name, bases) for name in raised))
    unraised = [c for c in classes if c not in covered]
    assert not unraised, f"perfgate/errors.py: never raised (nor any subclass): {unraised}"


def test_architecture_doc_names_every_module():
    """Each module by its path; a package's ``__init__.py`` counts as named with its folder (``perfgate/judge/``)."""
    text = DOC.read_text(encoding="utf-8")
    named = set(re.findall(r"perfgate/[\w/]+\.py", text))
    missing = []
    for path in _modules().values():
        relative = path.relative_to(ROOT).as_posix()
        folder = path.parent.relative_to(ROOT).as_posix() + "/"
        if relative not in named and not (path.name == "__init__.py" and folder in text):
            missing.append(relative)
    assert not missing, f"docs/architecture.md does not name: {missing}"


def test_architecture_doc_paths_and_functions_exist():
    """Every perfgate/*.py path the document names exists, and so does every ``name()`` it names."""
    text = DOC.read_text(encoding="utf-8")
    paths = sorted(set(re.findall(r"perfgate/[\w/]+\.py", text)))
    assert paths, "docs/architecture.md names no module"
    gone = [p for p in paths if not (ROOT / p).is_file()]
    assert not gone, f"docs/architecture.md names modules that do not exist: {gone}"
    defined = {
        node.name
        for tree in _trees().values()
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }
    called = set(re.findall(r"`(?:[\w.]+\.)?(\w+)\(\)`", text))
    unknown = sorted(called - defined)
    assert not unknown, f"docs/architecture.md names functions that are not defined in perfgate/: {unknown}"


def test_no_project_file_cites_the_old_design_document():
    offenders = []
    sources = [*PACKAGE.rglob("*.py"), *(ROOT / "tests").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]
    for path in [*ROOT.glob("*.md"), *ROOT.glob("docs/**/*.md"), *sources]:
        if path == Path(__file__):
            continue
        if "DESIGN" + ".md" in path.read_text(encoding="utf-8", errors="replace"):
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"these cite the old design document instead of docs/architecture.md: {offenders}"


def test_faults_package_docstring_names_the_modules_other_stages_import():
    """``perfgate.faults`` once called its modules private while the gate, the rig and the proxy command
    import them directly; its docstring must name every faults module imported from outside the package."""
    doc = ast.get_docstring(ast.parse((PACKAGE / "faults" / "__init__.py").read_text(encoding="utf-8"))) or ""
    assert not re.search(r"modules[^.]*private", doc), "the docstring calls the modules private"
    imported = set()
    for name, tree in _trees().items():
        if name.startswith("perfgate.faults"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("perfgate.faults."):
                imported.add(node.module.split(".")[2])
    assert imported, "no stage imports a faults module directly: the test lost its subject"
    unnamed = sorted(m for m in imported if f":mod:`perfgate.faults.{m}`" not in doc and f"``{m}``" not in doc)
    assert not unnamed, f"perfgate/faults/__init__.py docstring does not name these public modules: {unnamed}"


def _help_texts() -> dict[str, list[str]]:
    """``--flag`` -> the help texts given to it by any ``add_argument`` in perfgate/commands/."""
    texts: dict[str, list[str]] = {}
    for path in (PACKAGE / "commands").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument" and node.args:
                flag = node.args[0]
                helps = [k.value for k in node.keywords if k.arg == "help"]
                if isinstance(flag, ast.Constant) and helps and isinstance(helps[0], ast.Constant):
                    texts.setdefault(flag.value, []).append(helps[0].value)
    return texts


def test_round_count_options_say_pairs():
    """[rounds] count and max count pairs of rounds (a duet pair is one round, an interleaved pair two):
    the options that set them must say pairs, not rounds."""
    texts = _help_texts()
    for flag in ("--rounds", "--max-rounds", "--profile"):
        assert texts.get(flag), f"no help text for {flag}"
        for text in texts[flag]:
            assert "pairs" in text and "confirmation rounds" not in text, f"{flag}: {text!r}"


#: Imports against the stage order that docs/architecture.md lists under "Known debts".
KNOWN_BACKWARD_IMPORTS: frozenset[tuple[str, str]] = frozenset()
#: Import circles that docs/architecture.md lists under "Known debts".
KNOWN_CIRCLES: frozenset[frozenset[str]] = frozenset()


def _stages() -> dict[str, int]:
    """Module -> stage number, from the "### N. Stage" sections of docs/architecture.md."""
    stages, current = {}, None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"### (\d+)\. ", line)
        if heading:
            current = int(heading.group(1))
        elif line.startswith("## "):
            current = None
        elif current is not None and line.startswith("- "):
            for path in re.findall(r"perfgate/[\w/]+\.py", line):
                parts = Path(path).with_suffix("").parts
                stages[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = current
    return stages


def _imports() -> dict[str, set[str]]:
    """Module -> the perfgate modules it imports anywhere (top level, in functions, for typing)."""
    modules = _modules()

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, tree in _trees().items():
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("perfgate"):
                found.update(owner(f"{node.module}.{a.name}") or "" for a in node.names)
            elif isinstance(node, ast.Import):
                found.update(owner(a.name) or "" for a in node.names if a.name.startswith("perfgate"))
        graph[name] = found - {"", name}
    return graph


def test_stages_import_only_earlier_stages():
    stages, graph = _stages(), _imports()
    assert set(stages) == set(graph), f"modules without a stage: {sorted(set(graph) - set(stages))}"
    backward = {(a, b) for a, targets in graph.items() for b in targets if a != "perfgate" and stages[b] > stages[a]}
    new = sorted(backward - KNOWN_BACKWARD_IMPORTS)
    assert not new, f"imports of a later stage (see docs/architecture.md, Modules per stage): {new}"


def test_no_new_import_circles():
    graph = _imports()
    reach = {module: _reachable(graph, module) for module in graph}
    circles = {frozenset({a} | {b for b in reach[a] if a in reach[b]}) for a in graph if a in reach[a]}
    assert circles <= KNOWN_CIRCLES, f"new import circles: {[sorted(c) for c in circles - KNOWN_CIRCLES]}"


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    reach, todo = set(), list(graph[start])
    while todo:
        current = todo.pop()
        if current not in reach:
            reach.add(current)
            todo.extend(graph[current])
    return reach
