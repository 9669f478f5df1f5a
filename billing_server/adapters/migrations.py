"""Running Alembic migrations and checking that the schema is at head."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine

from billing_server.config import ConfigError
from billing_server.domain.errors import BillingError

P = ParamSpec("P")
R = TypeVar("R")


class MigrationRefused(ConfigError):
    """Alembic will not move the schema: a database at a revision this
    release does not know (a newer release's), or a bad target."""


class UnknownRevision(MigrationRefused):
    """A revision the migrations do not have (an operator's typo, or a newer release's)."""


def _refusals_told(operation: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(operation)
    def told(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return operation(*args, **kwargs)
        except CommandError as exc:
            raise MigrationRefused(str(exc)) from exc

    return told


class SchemaNotAtHead(BillingError):
    grpc_code = "FAILED_PRECONDITION"
    default_reason = "SCHEMA_NOT_AT_HEAD"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", "billing_server:migrations")
    config.attributes["engine"] = engine
    return config


@_refusals_told
def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


@_refusals_told
def migrate_to(engine: Engine, revision: str) -> None:
    """Upgrades or downgrades to `revision`, whichever way it lies."""
    script = ScriptDirectory.from_config(alembic_config(engine))
    current = current_revisions(engine)
    if revision != "base" and revision not in {r.revision for r in script.walk_revisions()}:
        known = ", ".join(sorted(r.revision for r in script.walk_revisions()))
        raise UnknownRevision(f"unknown revision {revision!r}: the migrations have {known}")
    ahead = any(
        rev.revision == revision
        for head in current
        for rev in script.iterate_revisions(head, "base")
    )
    if revision == "base" or ahead:
        downgrade(engine, revision)
    else:
        upgrade(engine, revision)


@_refusals_told
def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def head_revisions(engine: Engine) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())


def current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def ensure_at_head(engine: Engine) -> None:
    current, heads = current_revisions(engine), head_revisions(engine)
    if current != heads:
        found = ", ".join(sorted(current)) or "an empty database"
        raise SchemaNotAtHead(
            f"database schema is at {found} but this release needs {', '.join(sorted(heads))}: "
            "run `billing-admin migrate` first"
        )
