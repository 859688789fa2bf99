"""Real PostgreSQL and Redis servers and real phonebridge worker processes, for the tests.

Each is started by the suite on a free port in a temporary directory and stopped afterwards.
A missing server binary skips the tests that need it, with the Debian package to install (and
one summary line per package at the end of the run, tests/conftest.py); with
PHONEBRIDGE_REQUIRE_SERVICES=1, as `.ci/run` sets, it fails them instead, so CI never skips.
PHONEBRIDGE_HIDE_SERVICES=redis-server,initdb,chromium makes the lookup act as if those were
missing, to see a fresh machine's run on this one.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.live import free_port

ROOT = Path(__file__).resolve().parent.parent


# The Debian package that provides each binary the suite starts.
PACKAGES = {"redis-server": "redis-server", "initdb": "postgresql", "chromium": "chromium"}
REQUIRE_SERVICES = "PHONEBRIDGE_REQUIRE_SERVICES"
HIDE_SERVICES = "PHONEBRIDGE_HIDE_SERVICES"


def missing_reason(name: str) -> str:
    """The skip reason; tests/conftest.py counts skips by it for the run's summary."""
    return f"{name} not installed: apt-get install {PACKAGES[name]}"


def require_binary(name: str, *patterns: str) -> str:
    """The path of `name` (first a glob of `patterns`, then PATH); else skip, or fail in CI."""
    hidden = {part.strip() for part in os.environ.get(HIDE_SERVICES, "").split(",")}
    if name not in hidden:
        for pattern in patterns:
            matches = sorted(glob.glob(pattern))
            if matches:
                return matches[-1]
        found = shutil.which(name)
        if found:
            return found
    reason = missing_reason(name)
    if os.environ.get(REQUIRE_SERVICES) == "1":
        pytest.fail(f"{reason} ({REQUIRE_SERVICES}=1: services may not be skipped)", pytrace=False)
    pytest.skip(reason)


def _wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


@dataclass
class Redis:
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        server = require_binary("redis-server")
        self.process = subprocess.Popen(
            [
                server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        _wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@contextmanager
def redis_server() -> Iterator[Redis]:
    redis = Redis(free_port())
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


@dataclass
class Postgres:
    port: int
    data: Path
    bin_dir: Path
    as_user: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/phonebridge"

    def run(self, tool: str, *args: str) -> None:
        command = [*self.as_user, str(self.bin_dir / tool), *args]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> None:
        # fsync off: the tests need a real server, not durable storage.
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        self.run(
            "pg_ctl",
            "-D",
            str(self.data / "db"),
            "-o",
            options,
            "-l",
            str(self.data / "log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.data / "db"), "-m", "fast", "-w", "stop")


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    initdb = require_binary("initdb", "/usr/lib/postgresql/*/bin/initdb")
    bin_dir = Path(initdb).parent
    data = Path(tempfile.mkdtemp(prefix="phonebridge-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: run it as the postgres user Debian creates.
        shutil.chown(data, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    pg = Postgres(free_port(), data, bin_dir, as_user)
    pg.run("initdb", "-D", str(data / "db"), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    pg.start()
    try:
        pg.run("createdb", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "phonebridge")
        yield pg
    finally:
        try:
            pg.stop()
        finally:
            shutil.rmtree(data, ignore_errors=True)


@dataclass
class Worker:
    """One phonebridge server process: uvicorn as the README deploys it, or daphne."""

    name: str
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    server: str = "uvicorn"
    tree: Path = ROOT  # the checkout it runs (a benchmark may run an older commit's)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self, timeout: float = 30.0) -> Worker:
        self.log = Path(tempfile.mkstemp(prefix=f"phonebridge-{self.name}-", suffix=".log")[1])
        if self.server == "uvicorn":
            command = [
                sys.executable,
                "-m",
                "uvicorn",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                "phonebridge.asgi:application",
            ]
        else:
            command = [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "phonebridge.asgi:application",
            ]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=self.tree, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code in (200, 503):
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise TimeoutError(f"worker {self.name} did not start:\n{self.output()}")

    def kill(self) -> None:
        """Die at once, as a crashed or OOM-killed worker does: no clean shutdown."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log else ""


def worker_env(**overrides: str) -> dict[str, str]:
    """A production-like environment for a worker process (no .env, DEBUG off)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "STREAM_", "DJANGO_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "phonebridge.settings",
            "PHONEBRIDGE_READ_DOT_ENV": "0",
            "SECRET_KEY": "phonebridge-worker-tests",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "TELNYX_API_KEY": "KEYWORKERS",
            "TELNYX_CALL_CONTROL_APP_ID": "1000000000000000001",
            "TELNYX_PHONE_NUMBER": "+15550100001",
            "BRIDGE": "echo",
            "RECORD_CALLS": "false",
            "RECONCILE_INTERVAL": "0",
            "LOG_LEVEL": "INFO",
        }
    )
    env.pop("PHONEBRIDGE_COMMAND_LINE", None)
    env.update(overrides)
    return env


def manage(env: dict[str, str], *args: str, tree: Path = ROOT) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


@dataclass
class DevServer:
    """`manage.py runserver` as a newcomer starts it: a checkout with no .env and no
    SECRET_KEY (so DEBUG and the embedded simulator are on), on `port`, with its own database."""

    port: int
    home: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ("--noreload",)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.home / "runserver.log"

    def env(self) -> dict[str, str]:
        cleared = ("TELNYX_", "STREAM_", "DJANGO_", "SIMULATOR_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(cleared)}
        for name in ("SECRET_KEY", "DEBUG", "PUBLIC_HOST", "DATABASE_URL", "REDIS_URL"):
            env.pop(name, None)
        env.update(
            PHONEBRIDGE_READ_DOT_ENV="0",
            DATABASE_URL=f"sqlite:///{self.home / 'db.sqlite3'}",
            MEDIA_ROOT=str(self.home / "media"),
            PYTHONUNBUFFERED="1",
        )
        env.pop("PHONEBRIDGE_COMMAND_LINE", None)  # manage.py sets it, as from a shell
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 60.0) -> DevServer:
        command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", *self.args]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the reloader's child is stopped with it
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"runserver exited:\n{self.output()}")
            try:
                httpx.get(f"{self.url}/healthz", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise TimeoutError(f"runserver did not start:\n{self.output()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@contextmanager
def dev_server(**kwargs: object) -> Iterator[DevServer]:
    home = Path(tempfile.mkdtemp(prefix="phonebridge-dev-"))
    server = DevServer(free_port(), home, **kwargs)  # type: ignore[arg-type]
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
