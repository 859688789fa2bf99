"""`manage.py simulate_call`: play Telnyx (or Twilio) against a running phonebridge server."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from argparse import ArgumentParser
from collections.abc import Callable
from typing import Any

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from telephony.simulation.faults import FaultInjector
from telephony.simulation.load import (
    SimulatedCarrier,
    Summary,
    answer_dials,
    call_line,
    ring_server,
)
from telephony.simulation.report import CallReport
from telephony.simulation.scenario import Scenario, WebhookFaults
from telephony.telnyx.embedded import CARRIER_INFO_PATH
from telephony.telnyx.simulator.carrier import Carrier
from telephony.telnyx.simulator.faults import parse_fail_rate
from telephony.telnyx.simulator.server import running_simulator
from telephony.twilio.simulator.carrier import Carrier as TwilioCarrier
from telephony.twilio.simulator.server import running_simulator as running_twilio_simulator

DEFAULT_APP_ID = "1000000000000000001"
PREFLIGHT_TIMEOUT_S = 3.0


class Command(BaseCommand):
    help = "Drive a running phonebridge server as Telnyx (or Twilio) would: ring it, or answer its dials."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--carrier",
            choices=("telnyx", "twilio"),
            default=None,
            help="which carrier to play (default: PHONEBRIDGE_CARRIER)",
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--inbound", action="store_true", help="ring the server (default)")
        mode.add_argument("--serve-outbound", action="store_true", help="answer its dials")
        parser.add_argument("--server", default="http://127.0.0.1:8000")
        parser.add_argument("--listen", default="127.0.0.1:8055", help="simulator REST address")
        parser.add_argument("--from", dest="from_", default="+15550001111")
        parser.add_argument("--to", default="", help="default: TELNYX_PHONE_NUMBER")
        parser.add_argument(
            "--calls", type=int, default=None, help="calls to make (1); to answer when serving (∞)"
        )
        parser.add_argument("--concurrency", type=int, default=1)
        parser.add_argument("--duration", type=float, default=5.0, help="seconds of audio a call")
        parser.add_argument("--serve-for", type=float, default=None, help="serving time limit")
        parser.add_argument("--answer-timeout", type=float, default=30.0)
        parser.add_argument("--codec", choices=("PCMU", "PCMA", "L16"), default="PCMU")
        parser.add_argument("--l16-little-endian", action="store_true")
        parser.add_argument("--dtmf", default="", help="digits the caller presses")
        parser.add_argument("--dtmf-at", type=float, default=1.0)
        parser.add_argument("--amd-result", default="human")
        parser.add_argument("--reorder-media", action="store_true")
        parser.add_argument("--duplicate-webhooks", type=float, nargs="?", const=0.2, default=0)
        parser.add_argument("--reorder-webhooks", type=int, nargs="?", const=3, default=0)
        parser.add_argument("--bad-signature", type=float, nargs="?", const=0.1, default=0)
        parser.add_argument("--missing-signature", type=float, nargs="?", const=0.1, default=0)
        parser.add_argument("--skew", type=int, default=0, help="seconds added to timestamps")
        parser.add_argument("--fail-rate", action="append", default=[], help="e.g. 429:0.1")
        parser.add_argument("--seed-hex", default="", help="32-byte Ed25519 seed, in hex")
        parser.add_argument("--webhook-timeout", type=float, default=2.0)

    def handle(self, *args: Any, **options: Any) -> None:
        options["carrier"] = options["carrier"] or settings.PHONEBRIDGE_CARRIER
        scenario = self._scenario(options)
        host, _, port = options["listen"].rpartition(":")
        try:
            if options["carrier"] == "twilio":
                twilio = self._twilio_carrier(options)
                asyncio.run(self._run_twilio(twilio, scenario, host, int(port), options))
            else:
                carrier = self._carrier(options)
                asyncio.run(self._run(carrier, scenario, host, int(port), options))
        except KeyboardInterrupt:
            self.stderr.write("interrupted")

    def _twilio_carrier(self, options: dict[str, Any]) -> TwilioCarrier:
        """A Twilio account with the server's own SID and Auth Token, so its signatures verify."""
        carrier = TwilioCarrier(
            account_sid=settings.TWILIO_ACCOUNT_SID or None,
            auth_token=settings.TWILIO_AUTH_TOKEN or None,
            webhook_timeout_s=options["webhook_timeout"],
            webhook_faults=self._webhook_faults(options),
        )
        server = options["server"].rstrip("/")
        carrier.seed(
            phone_number=self._number(options),
            voice_url=f"{server}/twilio/voice",
            status_callback=f"{server}/twilio/status",
        )
        self._add_faults(carrier.faults, options)
        return carrier

    def _add_faults(self, faults: FaultInjector, options: dict[str, Any]) -> None:
        for spec in options["fail_rate"]:
            try:
                faults.add(parse_fail_rate(spec))
            except ValueError as exc:
                raise CommandError(f"--fail-rate {spec}: {exc}") from None

    def _webhook_faults(self, options: dict[str, Any]) -> WebhookFaults:
        return WebhookFaults(
            duplicate=options["duplicate_webhooks"],
            reorder_window=options["reorder_webhooks"],
            bad_signature=options["bad_signature"],
            missing_header=options["missing_signature"],
            skew_s=options["skew"],
        )

    def _carrier(self, options: dict[str, Any]) -> Carrier:
        carrier = Carrier(
            signing_seed=self._seed(options["seed_hex"]),
            webhook_timeout_s=options["webhook_timeout"],
            webhook_faults=self._webhook_faults(options),
            dial_rate_limit=None,
        )
        carrier.seed(
            api_keys=[k for k in [getattr(settings, "TELNYX_API_KEY", "")] if k],
            connection_id=getattr(settings, "TELNYX_CALL_CONTROL_APP_ID", "") or DEFAULT_APP_ID,
            webhook_event_url=options["server"].rstrip("/") + "/telnyx/events",
            phone_number=self._number(options),
        )
        self._add_faults(carrier.faults, options)
        return carrier

    def _seed(self, seed_hex: str) -> bytes | None:
        if seed_hex:
            try:
                seed = bytes.fromhex(seed_hex)
            except ValueError:
                raise CommandError("--seed-hex is not hex") from None
            if len(seed) != 32:
                raise CommandError("--seed-hex must be 32 bytes (64 hex digits)")
            return seed
        configured: bytes | None = getattr(settings, "SIMULATOR_SIGNING_SEED", None)
        if configured is None:
            self.stderr.write(
                self.style.WARNING(
                    "No SIMULATOR_SIGNING_SEED and no --seed-hex: using a random key."
                )
            )
        return configured

    def _number(self, options: dict[str, Any]) -> str:
        if options.get("carrier") == "twilio":
            return options["to"] or settings.TWILIO_PHONE_NUMBER or "+15550001111"
        return options["to"] or getattr(settings, "TELNYX_PHONE_NUMBER", "") or "+15550100000"

    def _scenario(self, options: dict[str, Any]) -> Scenario:
        if options["concurrency"] < 1 or (options["calls"] or 0) < 0:
            raise CommandError("--concurrency must be at least 1 and --calls not negative")
        return Scenario(
            from_=options["from_"],
            to=self._number(options),
            codec=options["codec"],
            l16_big_endian=not options["l16_little_endian"],
            duration_s=options["duration"],
            ring_timeout_s=options["answer_timeout"],
            dtmf=options["dtmf"],
            dtmf_at_s=options["dtmf_at"],
            amd_result=options["amd_result"],
            reorder_media=options["reorder_media"],
        )

    async def _run(
        self, carrier: Carrier, scenario: Scenario, host: str, port: int, options: dict[str, Any]
    ) -> None:
        stop = self._stop_on_signals()
        summary = Summary()
        async with running_simulator(carrier, host=host, port=port) as sim:
            self._announce(sim.base_url, carrier, options)
            if not options["serve_outbound"]:
                # Ringing a server that answers through another carrier rings out unanswered.
                await self._preflight(options["server"].rstrip("/"), sim.base_url, carrier)
            await self._drive(carrier, scenario, stop, self._reporter(summary), options)
            await carrier.webhooks.flush(timeout=5)
            for line in summary.lines(carrier):
                self.stdout.write(line)

    async def _run_twilio(
        self,
        carrier: TwilioCarrier,
        scenario: Scenario,
        host: str,
        port: int,
        options: dict[str, Any],
    ) -> None:
        stop = self._stop_on_signals()
        summary = Summary()
        async with running_twilio_simulator(carrier, host=host, port=port) as sim:
            server = options["server"].rstrip("/")
            self.stdout.write(f"Simulated Twilio API: {sim.base_url}")
            self.stdout.write("For its REST requests to reach this simulator, the server needs:")
            self.stdout.write(self.style.WARNING(f"  TWILIO_API_BASE_URL={sim.base_url}"))
            self.stdout.write(f"Webhooks go to {server}/twilio/voice and {server}/twilio/status")
            await self._drive(carrier, scenario, stop, self._reporter(summary), options)
            await carrier.webhooks.flush(timeout=5)
            for line in summary.lines(carrier):
                self.stdout.write(line)

    def _stop_on_signals(self) -> asyncio.Event:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            # Not possible off the main thread (as under tests) or on Windows.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, stop.set)
        return stop

    def _reporter(self, summary: Summary) -> Callable[[CallReport], None]:
        def report(call: CallReport) -> None:
            summary.add(call)
            style = self.style.SUCCESS if call.outcome == "ok" else self.style.ERROR
            self.stdout.write(style(call_line(call)))

        return report

    async def _drive(
        self,
        carrier: SimulatedCarrier,
        scenario: Scenario,
        stop: asyncio.Event,
        report: Callable[[CallReport], None],
        options: dict[str, Any],
    ) -> None:
        """Ring the server, or answer its dials, with either carrier's simulator."""
        if options["serve_outbound"]:
            await answer_dials(
                carrier,
                scenario,
                calls=options["calls"] or 0,
                serve_for=options["serve_for"],
                stop=stop,
                on_report=report,
            )
        else:
            await ring_server(
                carrier,
                scenario,
                calls=1 if options["calls"] is None else options["calls"],
                concurrency=options["concurrency"],
                stop=stop,
                on_report=report,
            )

    async def _preflight(self, server: str, base_url: str, carrier: Carrier) -> None:
        """Fail at once, saying what to do, when the server would not talk to this simulator."""
        try:
            async with httpx.AsyncClient(timeout=PREFLIGHT_TIMEOUT_S) as client:
                response = await client.get(server + CARRIER_INFO_PATH)
        except httpx.TransportError as exc:
            raise CommandError(
                f"Nothing answers at {server} ({type(exc).__name__}): start phonebridge "
                "(uv run manage.py runserver) or point --server at it."
            ) from None
        info = _carrier_info(response)
        if info is None:
            return  # not a dev server with the simulator: it was configured by hand
        key = carrier.public_key_b64
        if info.get("telnyx_api_base_url") != base_url or info.get("telnyx_public_key") != key:
            raise CommandError(
                f"{server} talks to {info.get('telnyx_api_base_url')}, not to this simulator: "
                f"restart it as `TELNYX_API_BASE_URL={base_url} TELNYX_PUBLIC_KEY={key} "
                "uv run manage.py runserver`, or press Simulate inbound call in its admin."
            )

    def _announce(self, base_url: str, carrier: Carrier, options: dict[str, Any]) -> None:
        self.stdout.write(f"Simulated Telnyx API: {base_url}")
        self.stdout.write("The server must run with:")
        self.stdout.write(self.style.WARNING(f"  TELNYX_API_BASE_URL={base_url}"))
        self.stdout.write(self.style.WARNING(f"  TELNYX_PUBLIC_KEY={carrier.public_key_b64}"))
        self.stdout.write(f"Webhooks go to {options['server'].rstrip('/')}/telnyx/events")
        if options["serve_outbound"]:
            self.stdout.write("Answering outbound dials; Ctrl-C to stop.")


def _carrier_info(response: httpx.Response) -> dict[str, Any] | None:
    if response.status_code != 200:
        return None
    try:
        info = response.json()
    except ValueError:
        return None
    return info if isinstance(info, dict) and "telnyx_api_base_url" in info else None
