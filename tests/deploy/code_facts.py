"""What the code says, for checking the deployment files against it.

Every fact comes from the code itself (pyproject's console scripts, the names
the sources read, the settings classes, the admin CLI's help) so that a change
there makes these tests point at the deployment file that fell behind.
"""

from __future__ import annotations

import contextlib
import io
import re
import tomllib
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

from billing_server.config import Settings
from billing_server.entrypoints.admin import admin_main
from webhook_gateway.app import create_app
from webhook_gateway.config import GatewaySettings

ROOT = Path(__file__).resolve().parents[2]
CODE_PACKAGES = ("billing_server", "webhook_gateway", "stripe_emulator", "paymentsvc_observability")

# Environment variables the deployment files set before the code reads them.
# Each is promised by the lead; drop it from here once the code reads it.
PENDING_ENV: frozenset[str] = frozenset()
# Standard variables read by libraries rather than by our code.
STANDARD_ENV_PREFIXES = ("OTEL_",)

# billing-admin commands and options the deployment files and runbooks use
# before they exist. Remove an entry once the command is there.
PENDING_ADMIN_COMMANDS: frozenset[tuple[str, ...]] = frozenset()
PENDING_ADMIN_OPTIONS: frozenset[tuple[tuple[str, ...], str]] = frozenset()


@cache
def console_scripts() -> frozenset[str]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return frozenset(tomllib.load(file)["project"]["scripts"])


@cache
def names_in_code() -> frozenset[str]:
    """Every quoted upper-case name in the sources: the env names they read."""
    found: set[str] = set()
    for package in CODE_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            found.update(re.findall(r"[\"']([A-Z][A-Z0-9_]+)[\"']", path.read_text()))
    return frozenset(found)


def is_env_read(name: str) -> bool:
    return name in names_in_code() or name in PENDING_ENV or name.startswith(STANDARD_ENV_PREFIXES)


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def server_ports(env: Mapping[str, str]) -> dict[str, int]:
    """The ports billing-server binds with this environment (code defaults otherwise)."""
    names = ("PAYMENTSVC_GRPC_ADDRESS", "PAYMENTSVC_METRICS_ADDRESS")
    settings = Settings.from_env({name: env[name] for name in names if name in env})
    ports = {"grpc": _port(settings.grpc_address)}
    if settings.metrics_address:
        ports["metrics"] = _port(settings.metrics_address)
    return ports


def server_binds_all_interfaces(env: Mapping[str, str]) -> bool:
    settings = Settings.from_env({k: v for k, v in env.items() if k.endswith("_ADDRESS")})
    return settings.grpc_address.startswith("0.0.0.0:")


def server_drain_s(env: Mapping[str, str]) -> float:
    """SIGTERM to exit: the delay still serving calls, then the grace."""
    names = ("PAYMENTSVC_SHUTDOWN_DELAY", "PAYMENTSVC_SHUTDOWN_GRACE")
    settings = Settings.from_env({name: env[name] for name in names if name in env})
    return settings.shutdown_delay_s + settings.shutdown_grace_s


# uvicorn's timeout_graceful_shutdown in webhook_gateway/cli.py.
GATEWAY_DRAIN_S = 10.0


def gateway_settings(env: Mapping[str, str]) -> GatewaySettings:
    names = ("PAYMENTSVC_GATEWAY_HOST", "PAYMENTSVC_GATEWAY_PORT", "PAYMENTSVC_WEBHOOK_PATH")
    relevant = {name: env[name] for name in names if name in env}
    return GatewaySettings.from_env({**relevant, "STRIPE_WEBHOOK_SECRET": "whsec_test"})


def gateway_routes(env: Mapping[str, str]) -> frozenset[str]:
    return frozenset(
        str(getattr(route, "path", "")) for route in create_app(gateway_settings(env)).routes
    )


@cache
def _admin_help(words: tuple[str, ...]) -> str | None:
    """`billing-admin WORDS --help`, or None when argparse refuses WORDS."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        try:
            admin_main([*words, "--help"])
        except SystemExit as exit_:
            return out.getvalue() if exit_.code == 0 else None
    return None


def _choices(help_text: str) -> set[str]:
    usage = help_text.split("\n\n", 1)[0]
    return {c for group in re.findall(r"\{([a-z,-]+)\}", usage) for c in group.split(",")}


def admin_command_problem(words: Sequence[str], options: Sequence[str]) -> str | None:
    """Why `billing-admin WORDS OPTIONS...` would not parse, or None if it would."""
    path = tuple(words)
    if path in PENDING_ADMIN_COMMANDS:
        return None
    for depth, word in enumerate(path):
        parent = _admin_help(path[:depth])
        if parent is None or word not in _choices(parent):
            return f"billing-admin has no command {' '.join(path[: depth + 1])!r}"
    help_text = _admin_help(path) or ""
    for option in options:
        if (path, option) not in PENDING_ADMIN_OPTIONS and option not in help_text:
            return f"`billing-admin {' '.join(path)}` has no option {option}"
    return None


def split_admin_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """billing-admin's arguments as (subcommand words, --options)."""
    words: list[str] = []
    options: list[str] = []
    for arg in argv:
        if arg.startswith("--"):
            options.append(arg.split("=", 1)[0])
        elif not options and re.fullmatch(r"[a-z][a-z-]*", arg):
            words.append(arg)
    return words, options
