"""The layers of services/foundry, enforced by walking every import (the AST, not memory).

- a service package (ingestion, augmentation, labeling, training, inference) never imports
  another service package;
- `domain` imports only `runtime`, `api` and `domain` from foundry, and no grpc, torch or
  transformers;
- `runtime` imports no service package and not `domain`;
- `client` imports only `runtime`, `api`, `domain` and `client` from foundry, and no torch.

Every `import` and `from ... import` counts, inside functions and `TYPE_CHECKING` blocks too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "services" / "foundry"
SERVICES = frozenset({"ingestion", "augmentation", "labeling", "training", "inference"})
DOMAIN_MAY_IMPORT = frozenset({"runtime", "api", "domain"})
DOMAIN_FORBIDDEN_LIBRARIES = frozenset({"grpc", "torch", "transformers"})
CLIENT_MAY_IMPORT = frozenset({"runtime", "api", "domain", "client"})


def imported_modules(source: str, relative: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in `source`, the file at `relative` under
    services/foundry; relative imports resolved."""
    tree = ast.parse(source, filename=str(relative))
    package = ["foundry", *relative.parent.parts]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            if module == "foundry":  # `from foundry import training` names the package
                for alias in node.names:
                    yield node.lineno, f"{module}.{alias.name}"
            else:
                yield node.lineno, module


def layer_violations(source: str, relative: Path) -> list[str]:
    """What the file at `relative` (under services/foundry) imports that its layer may not, as
    "services/foundry/<file>:line: message"."""
    layer = relative.parts[0] if len(relative.parts) > 1 else ""
    where = Path("services", "foundry", relative)
    out = []
    for line, module in imported_modules(source, relative):
        names = module.split(".")
        target = names[1] if names[0] == "foundry" and len(names) > 1 else ""
        problem = ""
        if layer in SERVICES and target in SERVICES and target != layer:
            problem = f"service {layer} imports service {target} ({module})"
        elif layer == "domain" and names[0] == "foundry" and target and target not in DOMAIN_MAY_IMPORT:
            if module != "foundry.__version__":
                problem = f"domain imports {module} (only runtime, api and domain)"
        elif layer == "domain" and names[0] in DOMAIN_FORBIDDEN_LIBRARIES:
            problem = f"domain imports {module}"
        elif layer == "runtime" and (target in SERVICES or target == "domain"):
            problem = f"runtime imports {module}"
        elif layer == "client" and names[0] == "foundry" and target and target not in CLIENT_MAY_IMPORT:
            problem = f"client imports {module} (only runtime, api, domain and client)"
        elif layer == "client" and names[0] in ("torch", "transformers"):
            problem = f"client imports {module}"
        if problem:
            out.append(f"{where}:{line}: {problem}")
    return out


def test_no_layer_is_crossed() -> None:
    files = sorted(p for p in PACKAGE.rglob("*.py") if "api" not in p.relative_to(PACKAGE).parts[:1])
    assert len(files) > 100
    violations = sorted(
        {v for path in files for v in layer_violations(path.read_text("utf-8"), path.relative_to(PACKAGE))}
    )
    assert not violations, "layer violations:\n" + "\n".join(violations)


def test_the_walk_sees_nested_relative_and_type_checking_imports() -> None:
    """The checker itself: imports in functions, TYPE_CHECKING blocks and relative ones count."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from foundry.training.spec import JobSpec\n"
        "def f() -> None:\n"
        "    import foundry.inference.core\n"
        "from ..ingestion import options\n"
        "from foundry import augmentation\n"
        "from foundry.domain import tags\n"
    )
    found = layer_violations(source, Path("labeling", "probe.py"))
    assert sorted({v.split(":")[1] for v in found}) == ["3", "5", "6", "7"], found
    domain = "import torch\nfrom grpc import server\nfrom foundry.ingestion import core\nfrom foundry.runtime import errors\n"
    assert sorted({v.split(":")[1] for v in layer_violations(domain, Path("domain", "probe.py"))}) == [
        "1",
        "2",
        "3",
    ]
    runtime = "from foundry.domain import tags\nfrom foundry.api.common.v1 import task_pb2\n"
    assert [v.split(":")[1] for v in layer_violations(runtime, Path("runtime", "probe.py"))] == ["1"]
    client = "from foundry.labeling import core\nimport torch\nfrom foundry.runtime import errors\n"
    assert [v.split(":")[1] for v in layer_violations(client, Path("client", "probe.py"))] == ["1", "2"]
