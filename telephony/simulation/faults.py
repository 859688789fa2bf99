"""REST faults injected at runtime: rate limits, server errors, slow answers.

Which requests fail, and how, is carrier-neutral; each carrier's simulator turns a fired rule
into its own error body (`telephony.telnyx.simulator.faults.fault_error`,
`telephony.twilio.simulator.faults.fault_error`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal["rate_limit", "dps", "server_error", "unavailable", "timeout"]
FAULT_KINDS: tuple[FaultKind, ...] = ("rate_limit", "dps", "server_error", "unavailable", "timeout")
# Short names for command-line flags such as `--fail-rate 429:0.1`.
FAULT_ALIASES: dict[str, FaultKind] = {
    "429": "rate_limit",
    "90103": "dps",
    "500": "server_error",
    "503": "unavailable",
    "timeout": "timeout",
}


@dataclass
class FaultRule:
    """Answer the next `count` matching requests with a fault (count None: no limit).

    `timeout` runs the request but holds the answer for `delay_s`, longer than a client's
    timeout, so a client that retries must not act twice.
    """

    kind: FaultKind
    count: int | None = 1
    probability: float = 1.0
    method: str | None = None
    path_contains: str | None = None
    command: str | None = None  # an action name such as "answer", or "dial"
    call_control_id: str | None = None  # the carrier's call id (Telnyx's, or a CallSid)
    retry_after_s: int = 1
    delay_s: float = 10.0

    def matches(self, method: str, path: str, command: str | None, call_id: str | None) -> bool:
        return (
            (self.method is None or self.method == method)
            and (self.path_contains is None or self.path_contains in path)
            and (self.command is None or self.command == command)
            and (self.call_control_id is None or self.call_control_id == call_id)
        )


class FaultInjector:
    def __init__(self, seed: int | None = None) -> None:
        self.rules: list[FaultRule] = []
        self.fired: list[tuple[FaultKind, str]] = []
        self._rng = random.Random(seed)

    def add(self, rule: FaultRule) -> FaultRule:
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        self.rules.clear()

    def pick(
        self, method: str, path: str, command: str | None, call_id: str | None
    ) -> FaultRule | None:
        for rule in list(self.rules):
            if not rule.matches(method, path, command, call_id):
                continue
            if rule.probability < 1 and self._rng.random() >= rule.probability:
                continue
            if rule.count is not None:
                rule.count -= 1
                if rule.count <= 0:
                    self.rules.remove(rule)
            self.fired.append((rule.kind, path))
            return rule
        return None


def parse_fail_rate(spec: str) -> FaultRule:
    """`429:0.1` → rate-limit 10% of requests; also 500, 503, 90103 (DPS) and timeout."""
    name, _, rate = spec.partition(":")
    if name not in FAULT_ALIASES:
        raise ValueError(f"unknown fault {name!r}; use one of {', '.join(FAULT_ALIASES)}")
    probability = float(rate or "1")
    if not 0 <= probability <= 1:
        raise ValueError("the rate must be between 0 and 1")
    kind = FAULT_ALIASES[name]
    return FaultRule(
        kind, count=None, probability=probability, command="dial" if kind == "dps" else None
    )
