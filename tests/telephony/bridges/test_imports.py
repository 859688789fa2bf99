"""getstream costs ~1.8 s to import and getstream.video.rtc ~0.7 s more: only a process that
carries a Stream call may pay that, so these modules import the SDK inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import telephony

MODULES = [
    "actions.py",
    "carrier.py",
    "dialing.py",
    "telnyx/call_control.py",
    "telnyx/handlers.py",
    "bridges/agent_server.py",
    "bridges/preparation.py",
    "bridges/stream_calls.py",
    "bridges/__init__.py",
    "bridges/downlink.py",
    "bridges/presence.py",
    "bridges/rtc.py",
    "bridges/stream.py",
    "bridges/vad.py",
]


def top_level_imports(tree: ast.Module) -> list[str]:
    names = []
    for node in tree.body:  # module level only; `if TYPE_CHECKING:` blocks are skipped
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("module", MODULES)
def test_the_module_imports_no_getstream_at_import_time(module):
    source = (Path(telephony.__file__).parent / module).read_text()
    imported = top_level_imports(ast.parse(source))
    assert not [name for name in imported if name.split(".")[0] == "getstream"]
