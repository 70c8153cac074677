"""The domain packages form a hierarchy: each imports only the ones below it.

    audit, mail  <-  roles  <-  accounts  <-  sessions, files, mfa, apikeys

Read from the source with `ast`, so an import inside a function or under
`if TYPE_CHECKING:` counts like any other: a lazy import that dodges a cycle
at run time is still a cycle in the design.

Each domain package has a core (models, service, schemas, ...) and an
interface (routes.py, admin_routes.py, cli.py): HTTP and command-line glue
that sits on top of every domain, like flaskou.auth and flaskou.lifecycle,
and may call any of them. The rules are on the core:

- a core module imports no domain package at or above its own level;
- nor any module above the domains (one that itself reaches a domain
  package, such as flaskou.auth or flaskou.lifecycle), which would be the
  same cycle with one more step;
- nor any interface module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "flaskou"

ORDER = {
    "audit": 0,
    "mail": 0,
    "roles": 1,
    "accounts": 2,
    "sessions": 3,
    "files": 3,
    "mfa": 3,
    "apikeys": 3,
}
INTERFACE = {"routes", "admin_routes", "cli"}


def read_sources(root: Path = SRC) -> dict[str, str]:
    """{dotted module name: source} for every module of the flaskou package."""
    sources = {}
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.relative_to(root).parts:
            continue
        parts = ["flaskou", *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        sources[".".join(parts)] = path.read_text(encoding="utf-8")
    return sources


def imports_of(module: str, source: str, *, is_package: bool = False) -> Iterator[str]:
    """Every flaskou module this source imports, anywhere in it."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from flaskou.accounts import service` imports flaskou.accounts.service;
            # `from flaskou.audit.service import Actor` resolves to the module (see known()).
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == "flaskou" or name.startswith("flaskou."):
                yield name


def known(name: str, modules: Mapping[str, str]) -> str:
    """The longest existing module a dotted import name refers to."""
    while name not in modules and "." in name:
        name = name.rpartition(".")[0]
    return name


def domain_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ORDER else None


def is_interface(module: str) -> bool:
    return domain_of(module) is not None and module.split(".")[-1] in INTERFACE


def import_graph(sources: Mapping[str, str]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, source in sources.items():
        is_package = module.count(".") <= 1 and (
            module == "flaskou" or any(m.startswith(module + ".") for m in sources)
        )
        graph[module] = {
            known(name, sources) for name in imports_of(module, source, is_package=is_package)
        } - {module}
    return graph


def above_the_domains(graph: Mapping[str, set[str]]) -> set[str]:
    """Modules outside the domain packages that reach one, directly or not."""
    reaches: dict[str, bool] = {}

    def reaches_a_domain(module: str, seen: frozenset[str]) -> bool:
        if module in reaches:
            return reaches[module]
        found = any(
            domain_of(target) is not None
            or (target not in seen and reaches_a_domain(target, seen | {target}))
            for target in graph.get(module, ())
        )
        reaches[module] = found
        return found

    return {
        module
        for module in graph
        if domain_of(module) is None and reaches_a_domain(module, frozenset({module}))
    }


def violations(sources: Mapping[str, str]) -> list[str]:
    graph = import_graph(sources)
    top = above_the_domains(graph)
    found = []
    for module, targets in sorted(graph.items()):
        domain = domain_of(module)
        if domain is None or is_interface(module):
            continue
        for target in sorted(targets):
            other = domain_of(target)
            if is_interface(target):
                found.append(f"{module} imports the interface module {target}")
            elif other is not None and other != domain and ORDER[other] >= ORDER[domain]:
                found.append(f"{module} imports {target}: {other} is not below {domain}")
            elif other is None and target in top:
                found.append(f"{module} imports {target}, which sits above the domains")
    return found


def package_cycles(sources: Mapping[str, str]) -> list[list[str]]:
    """Cycles between domain packages, from their core modules' imports."""
    edges: dict[str, set[str]] = {name: set() for name in ORDER}
    for module, targets in import_graph(sources).items():
        domain = domain_of(module)
        if domain is None or is_interface(module):
            continue
        for target in targets:
            other = domain_of(target)
            if other is not None and other != domain:
                edges[domain].add(other)
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(edges[node]):
            if nxt == path[0]:
                cycles.append([*path, nxt])
            elif nxt not in path and nxt > path[0]:  # each cycle once, from its least node
                visit(nxt, [*path, nxt])

    for start in sorted(edges):
        visit(start, [start])
    return cycles


# --- the rules hold for flaskou ------------------------------------------------


def test_the_domain_packages_have_no_import_cycle():
    assert package_cycles(read_sources()) == []


def test_domain_code_only_imports_downwards():
    assert violations(read_sources()) == []


def test_every_domain_package_is_seen():
    sources = read_sources()
    assert {domain_of(module) for module in sources} - {None} == set(ORDER)
    assert "flaskou.auth" in above_the_domains(import_graph(sources))
    assert "flaskou.errors" not in above_the_domains(import_graph(sources))


# --- and the checker would catch a breach of them ----------------------------


def with_change(module: str, extra: str) -> dict[str, str]:
    sources = read_sources()
    sources[module] = sources[module] + "\n" + extra + "\n"
    return sources


def test_a_lazy_import_inside_a_function_is_a_cycle():
    sources = with_change(
        "flaskou.accounts.service",
        "def _sneaky():\n    from flaskou.files import service as files\n    return files",
    )
    assert ["accounts", "files", "accounts"] in package_cycles(sources)
    assert violations(sources) == [
        "flaskou.accounts.service imports flaskou.files.service: files is not below accounts"
    ]


def test_a_type_checking_import_counts():
    sources = with_change(
        "flaskou.audit.service",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from flaskou.accounts.models import User",
    )
    assert violations(sources) == [
        "flaskou.audit.service imports flaskou.accounts.models: accounts is not below audit"
    ]


def test_siblings_may_not_import_each_other():
    sources = with_change("flaskou.files.service", "import flaskou.sessions.models")
    assert violations(sources) == [
        "flaskou.files.service imports flaskou.sessions.models: sessions is not below files"
    ]


def test_going_round_through_a_module_above_the_domains_is_caught():
    sources = with_change("flaskou.roles.service", "from flaskou import lifecycle")
    assert violations(sources) == [
        "flaskou.roles.service imports flaskou.lifecycle, which sits above the domains"
    ]


def test_core_code_may_not_import_an_interface_module():
    sources = with_change("flaskou.roles.service", "from ..accounts.cli import users_cli")
    assert violations(sources) == [
        "flaskou.roles.service imports the interface module flaskou.accounts.cli"
    ]
