"""The bench databases: created fresh, migrated with `billing-admin migrate`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from bench._processes import WORK_DIR, script_argv

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/paymentsvc_bench"
DEFAULT_SQLITE = WORK_DIR / "paymentsvc_bench.db"


def engine(url: str, **options: Any) -> Engine:
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")  # the service's driver
    return create_engine(parsed, **options)


def recreate_postgres(url: str) -> None:
    """Drops and creates the database named in `url` (only a bench database)."""
    name = make_url(url).database
    if not name or "bench" not in name:
        raise SystemExit(f"refusing to drop {name!r}: its name must contain 'bench'")
    admin = engine(str(make_url(url).set(database="postgres")), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


def recreate_sqlite(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def recreate(url: str) -> None:
    """An empty database at `url`, whichever kind it is."""
    if url.startswith("sqlite"):
        recreate_sqlite(Path(str(make_url(url).database)))
    else:
        recreate_postgres(url)


def migrate(url: str) -> None:
    done = subprocess.run(
        [*script_argv("billing-admin"), "migrate"],
        env={**os.environ, "SQLALCHEMY_DATABASE_URI": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"billing-admin migrate failed:\n{done.stdout}{done.stderr}")


def rows(url: str, query: str) -> list[tuple[Any, ...]]:
    db = engine(url)
    try:
        with db.connect() as connection:
            return [tuple(row) for row in connection.execute(text(query))]
    finally:
        db.dispose()


def scalar(url: str, query: str) -> int:
    """One integer (a count) from either database."""
    return int(rows(url, query)[0][0] or 0)
