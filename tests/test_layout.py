"""The tree shows the architecture: packages, import direction, no cycles, docstrings.

spec/ is the authority; `pbjoin_model` mirrors it (protocol -> explorer -> traces ->
proofs, then the conformance bridge and the command line); `pbjoin` implements it and
never imports the model; `pbjoin_model.conformance` is the only code that imports both.
"""

from __future__ import annotations

import ast
import tomllib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROOTS = {"pbjoin": ROOT / "src" / "pbjoin", "pbjoin_model": ROOT / "model" / "pbjoin_model"}

# Each subpackage of the verification package may import only those before it.
MODEL_LAYERS = ["protocol", "explorer", "traces", "proofs", "conformance", "cli"]
# Only these may import the implementation.
BRIDGE = {"conformance"}
VERIFICATION_ONLY = ("pbjoin_model", "z3", "itf_py", "hypothesis", "pytest")


def _modules() -> dict[str, Path]:
    out = {}
    for top, folder in ROOTS.items():
        for path in folder.rglob("*.py"):
            parts = [top, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _imports(path: Path, module: str) -> list[str]:
    """Every name the file imports, at module level or inside a function, as an absolute dotted name."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.append(name)
            out += [f"{name}.{alias.name}" for alias in node.names]
    return out


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "pbjoin_model" and len(parts) > 1 and parts[1] in MODEL_LAYERS else None


def test_the_implementation_never_imports_the_verification_side() -> None:
    offenders = [
        f"{module} imports {name}"
        for module, path in _modules().items()
        if module.startswith("pbjoin.") or module == "pbjoin"
        for name in _imports(path, module)
        if name.split(".")[0] in VERIFICATION_ONLY
    ]
    assert offenders == []


def test_each_verification_subpackage_imports_only_the_layers_before_it() -> None:
    offenders = []
    for module, path in _modules().items():
        layer = _layer(module)
        if layer is None:
            continue
        allowed = set(MODEL_LAYERS[: MODEL_LAYERS.index(layer) + 1])
        for name in _imports(path, module):
            target = _layer(name)
            if target is not None and target not in allowed:
                offenders.append(f"{module} ({layer}) imports {name} ({target})")
            if name.split(".")[0] == "pbjoin" and layer not in BRIDGE:
                offenders.append(f"{module} ({layer}) imports the implementation: {name}")
    assert offenders == []


def test_no_module_imports_the_verification_command_line() -> None:
    offenders = [
        f"{module} imports {name}"
        for module, path in _modules().items()
        if _layer(module) != "cli"
        for name in _imports(path, module)
        if name.startswith("pbjoin_model.cli")
    ]
    assert offenders == []


def test_no_import_cycle_between_modules() -> None:
    modules = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        for name in _imports(path, module):
            # "from package import module" names the module; "from module import name" the module itself.
            target = name if name in modules else name.rsplit(".", 1)[0]
            if target in modules and target != module:
                graph[module].add(target)
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for module in sorted(modules):
        if module not in state:
            visit(module, [module])
    assert cycles == [], " ; ".join(" -> ".join(c) for c in cycles)


def test_every_package_opens_with_a_docstring_saying_what_it_holds() -> None:
    packages = [p for p in _modules().values() if p.name == "__init__.py"]
    assert len(packages) >= 10
    missing = [str(p.relative_to(ROOT)) for p in packages if not ast.get_docstring(ast.parse(p.read_text()))]
    assert missing == []


def test_the_wheel_lists_exactly_the_packages_on_disk() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {m for m, p in _modules().items() if p.name == "__init__.py"} | {"pbjoin_model.spec"}
    assert set(config["packages"]) == on_disk
    assert config["package-dir"]["pbjoin_model.spec"] == "spec"
    assert all(name.split(".")[0] in ROOTS for name in config["packages"]), "a generic top-level package"


def test_the_production_dependencies_are_what_the_implementation_imports() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {dep.split(">")[0].split("<")[0].split("=")[0].strip() for dep in project["dependencies"]}
    assert runtime == {"pydantic", "tabulate", "etcd3gw", "requests"}
    assert not any(name in " ".join(project["optional-dependencies"]["verify"]) for name in ("pytest", "ruff"))


def test_the_readme_tree_matches_the_repository() -> None:
    readme = (ROOT / "README.md").read_text()
    tree = readme[readme.index("## Architecture") :].split("```")[1]
    for folder in ROOTS.values():
        for package in folder.iterdir():
            if package.is_dir() and (package / "__init__.py").is_file():
                assert f"{package.name}/" in tree, f"README's tree does not show {package.relative_to(ROOT)}"
    modules = {p.name for folder in ROOTS.values() for p in folder.rglob("*.py")}
    modules |= {str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("*.py")}
    named = {word for word in tree.split() if word.endswith(".py")}
    assert named, "the tree names no modules"
    stale = sorted(name for name in named if name not in modules and not name.startswith("test_") and "*" not in name)
    assert stale == [], f"README's tree names modules that do not exist: {stale}"
