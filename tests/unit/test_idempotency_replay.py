"""Idempotent execution against the in-memory unit of work: replays and refusals."""

from __future__ import annotations

import pytest

from billing_server.domain.errors import FailedPrecondition, InvalidArgument
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.idempotency import run_idempotent
from tests.unit.fake_unit_of_work import FakeDatabase


def same(response: bytes) -> bytes:
    return response


def test_the_first_answer_is_replayed(deps: Dependencies) -> None:
    answers = iter([b"first", b"second"])
    got = [
        run_idempotent(
            deps, method="M", key="k", fingerprint="f", compute=lambda d: next(answers), encode=same
        )
        for _ in range(2)
    ]
    assert got == [b"first", b"first"]


def test_a_refusal_is_replayed_with_its_reason_metadata_and_field(deps: Dependencies) -> None:
    calls = 0

    def refuse(done: object) -> bytes:
        nonlocal calls
        calls += 1
        raise FailedPrecondition("no", reason="WHY_NOT", metadata={"a": "1"}, field="plan")

    for _ in range(2):
        with pytest.raises(FailedPrecondition) as error:
            run_idempotent(deps, method="M", key="k", fingerprint="f", compute=refuse, encode=same)
        assert (error.value.reason, error.value.metadata, error.value.field) == (
            "WHY_NOT",
            {"a": "1"},
            "plan",
        )
    assert calls == 1


def test_a_key_reused_with_another_request_is_refused(deps: Dependencies) -> None:
    run_idempotent(deps, method="M", key="k", fingerprint="f", compute=lambda d: b"x", encode=same)
    with pytest.raises(InvalidArgument) as error:
        run_idempotent(
            deps, method="M", key="k", fingerprint="g", compute=lambda d: b"x", encode=same
        )
    assert error.value.reason == "IDEMPOTENCY_KEY_REUSED"


def test_a_transient_failure_forgets_the_key(deps: Dependencies, database: FakeDatabase) -> None:
    def fail(done: object) -> bytes:
        raise RuntimeError("transient")

    with pytest.raises(RuntimeError):
        run_idempotent(deps, method="M", key="k", fingerprint="f", compute=fail, encode=same)
    assert database.idempotency == {}
    again = run_idempotent(
        deps, method="M", key="k", fingerprint="f", compute=lambda d: b"ok", encode=same
    )
    assert again == b"ok"
