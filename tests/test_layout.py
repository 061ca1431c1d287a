"""The layout's rules, read from the source: commands are leaves, the package imports none of them, no import circle.

Every module's imports are read with `ast` (nothing is imported). Commands are the top-level scripts (train_*.py),
experiments/ and benchmarks/; they may import the package and their own folder, never another command's folder or a
script. The package imports only itself and third-party libraries. An import circle is looked for among the imports
that run when a module is imported (those at module level) everywhere, and within the package among all imports,
those inside functions included: a function-level import breaks no import there, but it hides two modules that
depend on each other.
"""

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.stem for p in REPO_ROOT.glob("*.py"))  # train_mlm, train_cls, train_committee, ...
PACKAGES = ("modeling_tlm", "experiments", "benchmarks")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    modules = {p.stem: p for p in REPO_ROOT.glob("*.py")}
    for package in PACKAGES:
        modules.update({module_name(p): p for p in (REPO_ROOT / package).rglob("*.py")})
    return modules


MODULES = project_modules()


def _resolve(name: str) -> str | None:
    """The project module `name` refers to (a module, or the package holding it), or None if not ours."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports(module: str, top_level_only: bool = False) -> set[str]:
    """The project modules `module` imports (all of them, or only those imported when it is imported)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    nodes = _module_level_nodes(tree.body) if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {_resolve(alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:  # `from package import submodule` imports the submodule
                found.add(_resolve(f"{base}.{alias.name}") if f"{base}.{alias.name}" in MODULES else _resolve(base))
    return {m for m in found if m and m != module}


def _module_level_nodes(statements) -> list:
    """The nodes that run at import time: everything outside function bodies and `if TYPE_CHECKING:` blocks."""
    nodes = []
    for stmt in statements:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test):
            nodes += _module_level_nodes(stmt.orelse)
            continue
        nodes.append(stmt)
        for field in ("body", "orelse", "finalbody", "handlers"):  # class bodies, if/try/with blocks
            nodes += _module_level_nodes(getattr(stmt, field, []))
    return nodes


def _folder(module: str) -> str:
    return module.split(".")[0] if module.split(".")[0] in PACKAGES else "scripts"


def test_the_reader_sees_the_imports_it_should():
    """The rules below mean something only if the reader finds imports: check it on modules we know."""
    assert "modeling_tlm.training.commands" in imports("train_mlm")
    assert "modeling_tlm.configuration_tlm" in imports("modeling_tlm.modeling_tlm", top_level_only=True)
    assert "modeling_tlm.timing" in imports("experiments.latency")  # imported inside main()
    assert "modeling_tlm.timing" not in imports("experiments.latency", top_level_only=True)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_commands_are_leaves(module):
    folder = _folder(module)
    for imported in imports(module):
        target = _folder(imported)
        assert target != "scripts", f"{module} imports the script {imported}: move what it needs into the package"
        if folder == "modeling_tlm":
            assert target == "modeling_tlm", f"the package module {module} imports {imported}, a command"
        elif target != "modeling_tlm":
            assert target == folder, f"{module} imports {imported}, another command's code: move it into the package"


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of `graph` (module -> modules it imports) as a path that ends where it starts, or None."""
    state: dict[str, str] = {}  # module -> "open" while on the current path, "done" after

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = "open"
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == "open":
                return path[path.index(imported):] + [imported]
            if imported not in state and (circle := visit(imported, path + [imported])):
                return circle
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (circle := visit(module, [module])):
            return circle
    return None


def test_find_circle_finds_one_and_only_one():
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_circle():
    """Among the imports that run when a module is imported: such a circle breaks the import itself."""
    circle = find_circle({module: imports(module, top_level_only=True) for module in MODULES})
    assert circle is None, f"import circle: {' -> '.join(circle)}"


def test_no_import_circle_in_the_package_even_through_functions():
    """Within the package, an import inside a function counts too: it hides a circle of dependencies (two modules
    that need each other are one module, or share a third that should hold what both need)."""
    package = {m: {i for i in imports(m) if _folder(i) == "modeling_tlm"} for m in MODULES
               if _folder(m) == "modeling_tlm"}
    circle = find_circle(package)
    assert circle is None, f"import circle: {' -> '.join(circle)}"


def test_no_sys_path_edits():
    """Commands find the package because it is installed (`pip install -e .`), not by editing sys.path."""
    edits = [name for name, path in MODULES.items() if "sys.path" in path.read_text()]
    assert edits == []


# Distributions the package needs without importing them, each with its reason (setup.cfg says it too).
REQUIRED_UNIMPORTED = {"accelerate": "transformers' Trainer needs it for every run"}
DISTRIBUTION_OF = {"yaml": "pyyaml"}  # import name -> distribution name, where they differ


def _third_party_imports(folder: Path) -> set[str]:
    import sys

    found = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {DISTRIBUTION_OF.get(m, m) for m in found if m not in sys.stdlib_module_names and m != folder.name}


def _install_requires() -> set[str]:
    import configparser
    import re

    cfg = configparser.ConfigParser()
    cfg.read(REPO_ROOT / "setup.cfg")
    lines = [line.strip() for line in cfg["options"]["install_requires"].splitlines()]
    return {re.split(r"[<>=!~\[; ]", line)[0].lower().replace("-", "_") for line in lines
            if line and not line.startswith("#")}


def test_install_requires_is_what_the_package_imports():
    """A hard dependency the package never imports is weight every user carries (it belongs to an extra); one it
    imports but does not declare breaks a clean install."""
    imported = {name.lower().replace("-", "_") for name in _third_party_imports(REPO_ROOT / "modeling_tlm")}
    declared = _install_requires()
    assert imported - declared == set(), "imported by modeling_tlm but not in install_requires"
    assert declared - imported - set(REQUIRED_UNIMPORTED) == set(), "in install_requires but never imported"
