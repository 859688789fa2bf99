"""Data flows downhill: each telephony module imports only from its own layer or the ones below.

A newcomer should find any behaviour in one obvious place, and a second carrier should be a
sibling of telephony/telnyx/ that touches nothing else. Both hold only while the core never
reaches up into a carrier, and the media path never reaches up into what dials or answers.
Registries that name a class by its dotted path (`telephony.carrier.CARRIERS`,
`telephony.bridges.BRIDGES`) are how a lower layer is told about a higher one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import telephony

ROOT = Path(telephony.__file__).parent

# Top to bottom. A module belongs to the first layer with a prefix of its dotted name
# (longest prefix first within a layer does not matter: prefixes never overlap across layers).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "carriers and Django's entry points",
        (
            "telephony.telnyx",
            "telephony.twilio",
            "telephony.apps",
            "telephony.checks",
            "telephony.context_processors",
            "telephony.management",
            "telephony.models",
        ),
    ),
    ("workflows", ("telephony.dialing",)),
    ("media session", ("telephony.media.consumer", "telephony.media.session")),
    ("bridges that prepare", ("telephony.bridges.stream", "telephony.bridges.preparation")),
    ("call actions", ("telephony.actions", "telephony.reconcile")),
    ("carrier interface", ("telephony.carrier",)),
    ("parts", ("telephony",)),  # everything else: codecs, pacing, bridges' registry, numbers…
]


def layer_of(module: str) -> int:
    matches = [
        (index, len(prefix))
        for index, (_, prefixes) in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    ]
    # The most specific prefix wins ("telephony.media.session" over "telephony").
    return max(matches, key=lambda match: match[1])[0]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    relative = Path(*name.split("."))
    return (ROOT.parent / relative).with_suffix(".py").is_file() or (
        ROOT.parent / relative / "__init__.py"
    ).is_file()


def imported_modules(tree: ast.AST) -> set[str]:
    """Every telephony module imported anywhere (functions too), except for type checking."""
    found: set[str] = set()
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found |= imported_modules(ast.Module(body=node.orelse, type_ignores=[]))
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if is_module(full) else node.module)
        else:
            found |= imported_modules(node)
    return {name for name in found if name.split(".")[0] == "telephony"}


SOURCES = sorted(path for path in ROOT.rglob("*.py") if "migrations" not in path.parts)


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: module_name(path))
def test_the_module_imports_nothing_from_a_layer_above_its_own(path):
    module = module_name(path)
    upward = [
        f"{name} ({LAYERS[layer_of(name)][0]})"
        for name in sorted(imported_modules(ast.parse(path.read_text())))
        if layer_of(name) < layer_of(module)
    ]
    assert not upward, f"{module} ({LAYERS[layer_of(module)][0]}) imports upward: {upward}"


def test_the_layers_name_real_modules():
    for _, prefixes in LAYERS:
        for prefix in prefixes:
            assert is_module(prefix), prefix


def test_an_upward_import_is_noticed_even_inside_a_function_but_not_for_type_checking():
    tree = ast.parse(
        "if TYPE_CHECKING:\n"
        "    from telephony.dialing import place_call\n"
        "def f():\n"
        "    from telephony.telnyx import client\n"
    )
    assert imported_modules(tree) == {"telephony.telnyx.client"}
    assert layer_of("telephony.telnyx.client") < layer_of("telephony.media.codecs")
