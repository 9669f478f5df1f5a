"""Service tokens: HS256 JWTs naming the calling service and its scopes."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import jwt

from billing_server.domain.callers import Identity, InvalidToken, Scope

ALGORITHM = "HS256"
DEFAULT_AUDIENCE = "paymentsvc"
MAX_SERVICE_NAME = 64
DEFAULT_MAX_TTL_S = 90 * 24 * 3600


class TokenVerifier:
    def __init__(
        self,
        keys: Sequence[str],
        audience: str,
        leeway_s: int,
        max_ttl_s: int = DEFAULT_MAX_TTL_S,
        cache_size: int = 10_000,
    ) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self._keys = tuple(keys)
        self._audience = audience
        self._leeway_s = leeway_s
        # A token minted to live for years is a leaked credential that never
        # goes away: its lifetime (exp - iat) is capped.
        self._max_ttl_s = max_ttl_s
        # Callers send the same token on every call: checking its signature
        # once is enough until it expires. (The keys never change while the
        # process runs.)
        self._verified: dict[str, tuple[Identity, float]] = {}
        self._cache_size = cache_size

    def verify(self, token: str) -> Identity:
        cached = self._verified.get(token)
        if cached is not None:
            identity, expires_at = cached
            if time.time() < expires_at + self._leeway_s:
                return identity
            self._verified.pop(token, None)
        identity, expires_at = self._verify(token)
        if len(self._verified) >= self._cache_size:
            self._verified.clear()
        self._verified[token] = (identity, expires_at)
        return identity

    def _verify(self, token: str) -> tuple[Identity, float]:
        claims = None
        # Every configured key is tried, so that tokens signed with the
        # previous key stay valid while a new one is rolled out.
        for key in self._keys:
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=[ALGORITHM],
                    audience=self._audience,
                    leeway=self._leeway_s,
                    options={"require": ["exp", "sub", "aud"]},
                )
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as exc:
                raise InvalidToken(type(exc).__name__) from None
        if claims is None:
            raise InvalidToken("signature")
        service = claims.get("sub")
        if not isinstance(service, str) or not 0 < len(service) <= MAX_SERVICE_NAME:
            raise InvalidToken("sub")
        expires_at = float(claims["exp"])
        issued_at = claims.get("iat")
        # Either bound alone could be dodged: a far-future `iat`, or none.
        if expires_at - time.time() > self._max_ttl_s + self._leeway_s or (
            isinstance(issued_at, int | float) and expires_at - issued_at > self._max_ttl_s
        ):
            raise InvalidToken("lifetime")
        return Identity(service, _scopes(claims.get("scope", ""))), expires_at


def issue_token(
    key: str,
    service: str,
    scopes: Iterable[Scope],
    ttl: timedelta,
    now: datetime,
    audience: str = DEFAULT_AUDIENCE,
) -> str:
    if not 0 < len(service) <= MAX_SERVICE_NAME:
        raise ValueError(f"service name must be 1-{MAX_SERVICE_NAME} characters")
    claims = {
        "sub": service,
        "aud": audience,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "scope": " ".join(sorted(s.value for s in scopes)),
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def _scopes(value: object) -> frozenset[Scope]:
    if not isinstance(value, str):
        return frozenset()
    known = {s.value: s for s in Scope}
    return frozenset(known[v] for v in value.split() if v in known)
