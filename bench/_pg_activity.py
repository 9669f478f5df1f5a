"""What a run cost PostgreSQL: sessions opened and transactions, per call.

From pg_stat_database, which every backend updates at most once a second:
read it a couple of seconds after the load stops.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy.engine import make_url

from bench._database import rows

_QUERY = "SELECT sessions, xact_commit, xact_rollback FROM pg_stat_database WHERE datname = '{}'"


@dataclass(frozen=True)
class PgActivity:
    sessions: int
    commits: int
    rollbacks: int

    @classmethod
    def read(cls, url: str) -> PgActivity | None:
        """None on SQLite."""
        if url.startswith("sqlite"):
            return None
        row = rows(url, _QUERY.format(make_url(url).database))[0]
        return cls(int(row[0]), int(row[1]), int(row[2]))

    def since(self, before: PgActivity, calls: int, what: str, unit: str = "call") -> str:
        sessions = self.sessions - before.sessions
        commits = self.commits - before.commits
        rollbacks = self.rollbacks - before.rollbacks
        per = max(calls, 1)
        return (
            f"PostgreSQL during {what}: {sessions} sessions opened, "
            f"{commits / per:.2f} commits and {rollbacks / per:.2f} rollbacks per {unit}"
        )


def settle() -> None:
    time.sleep(1.5)
