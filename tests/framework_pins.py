"""Pins on the framework internals that our overrides copy or depend on.

A few classes re-implement framework internals for speed or resilience (phonebridge/lean.py,
the media consumer, the Redis channel layer, ...). Such an override is right only for the
framework source it was written against, and nothing else fails when that source changes. So
each test module guarding one keeps a dict, dotted name -> (package version, sha256 of
`inspect.getsource`), of the functions it was reviewed against, and fails, naming the override
to re-review, when the installed source differs. A new package version whose source is the
same passes: only a real change asks for a review.

    uv run python -m tests.framework_pins NAME ...           # print current pins
    uv run python -m tests.framework_pins --source NAME ...  # print the source to review
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import sys
from importlib.metadata import packages_distributions, version
from typing import Any

Pins = dict[str, tuple[str, str]]


def resolve(dotted: str) -> Any:
    """The function `dotted` names: a module-level one, or a class's (possibly inherited)."""
    parts = dotted.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for name in parts[split:]:
            target = getattr(target, name)
        if isinstance(target, property):
            return target.fget
        if isinstance(target, functools.cached_property):
            return target.func
        return target
    raise ModuleNotFoundError(f"no module found for {dotted}")


def source_sha256(dotted: str) -> str:
    return hashlib.sha256(inspect.getsource(resolve(dotted)).encode()).hexdigest()


def distribution(dotted: str) -> str:
    """The installed distribution (package) that provides `dotted`."""
    top = dotted.split(".", 1)[0]
    return packages_distributions().get(top, [top])[0]


def pin_line(dotted: str) -> str:
    """The dict entry that pins `dotted` as installed now."""
    return f'"{dotted}": ("{version(distribution(dotted))}", "{source_sha256(dotted)}"),'


def drift(dotted: str, pin: tuple[str, str], *, override: str, pins_file: str) -> str | None:
    """Why `dotted` no longer matches its pin (None: it still does), with what to do about it."""
    reviewed_version, reviewed_sha256 = pin
    package = distribution(dotted)
    try:
        if source_sha256(dotted) == reviewed_sha256:
            return None
        change = "has changed"
    except (AttributeError, ImportError, OSError, TypeError) as exc:
        change = f"can no longer be read ({type(exc).__name__}: {exc})"
    return (
        f"{dotted} {change} since it was reviewed (in {package} {reviewed_version}; "
        f"installed: {package} {version(package)}).\n"
        f"Re-review {override} against the installed source:\n"
        f"    uv run python -m tests.framework_pins --source {dotted}\n"
        f"and, once the override is right for it, replace the pin in {pins_file} with the line\n"
        f"    uv run python -m tests.framework_pins {dotted}\n"
        f"prints."
    )


def main(argv: list[str]) -> None:
    show_source = "--source" in argv
    for dotted in (arg for arg in argv if arg != "--source"):
        if show_source:
            print(f"# {dotted} ({distribution(dotted)} {version(distribution(dotted))})")
            print(inspect.getsource(resolve(dotted)))
        else:
            print(pin_line(dotted))


if __name__ == "__main__":
    main(sys.argv[1:])
