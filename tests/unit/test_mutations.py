"""Every mutating call, one way: keyed per caller, and audited when it fails."""

from __future__ import annotations

import pytest

from billing_server.domain.errors import FailedPrecondition, InvalidArgument, Unavailable
from billing_server.service_layer import checkout
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.mutations import Mutation, run_mutation
from tests.unit.fake_unit_of_work import FakeDatabase


def call(actor: str = "svc-a", key: str = "key-1", account_id: str = "acct_1") -> Mutation:
    return Mutation("ChangePlan", actor, account_id, key, fingerprint="f")


def same(answer: bytes) -> bytes:
    return answer


def refuse(done: object) -> bytes:
    raise FailedPrecondition("no", reason="NO_LIVE_SUBSCRIPTION")


def test_a_key_is_its_callers_own(deps: Dependencies) -> None:
    answers = iter([b"for a", b"for b", b"again"])

    def run(actor: str) -> bytes:
        return run_mutation(deps, call(actor), lambda done: next(answers), same)

    assert [run("svc-a"), run("svc-b"), run("svc-a")] == [b"for a", b"for b", b"for a"]


def test_a_refusal_is_audited_with_its_code_and_reason(
    deps: Dependencies, database: FakeDatabase
) -> None:
    with pytest.raises(FailedPrecondition):
        run_mutation(deps, call(), refuse, same)

    [entry] = database.audit
    assert (entry.actor, entry.action, entry.account_id, entry.idempotency_key) == (
        "svc-a",
        "ChangePlan",
        "acct_1",
        "key-1",
    )
    assert (entry.outcome, entry.detail) == (
        "FAILED_PRECONDITION",
        {"reason": "NO_LIVE_SUBSCRIPTION"},
    )


def test_malformed_identifiers_stay_out_of_the_audit(
    deps: Dependencies, database: FakeDatabase
) -> None:
    def compute(done: object) -> bytes:
        raise AssertionError("a malformed key is refused before the use case runs")

    with pytest.raises(InvalidArgument):
        run_mutation(deps, call(key="k" * 300, account_id="acct\x00<script>"), compute, same)

    [entry] = database.audit
    assert (entry.account_id, entry.idempotency_key, entry.outcome) == (
        None,
        None,
        "INVALID_ARGUMENT",
    )


def test_a_success_writes_no_audit_of_its_own(deps: Dependencies, database: FakeDatabase) -> None:
    # The use case audits a change in the transaction that makes it.
    assert run_mutation(deps, call(), lambda done: b"ok", same) == b"ok"
    assert database.audit == []


def test_a_refusal_is_stored_and_audited_in_one_commit_after_its_claim(
    deps: Dependencies, database: FakeDatabase
) -> None:
    with pytest.raises(FailedPrecondition):
        run_mutation(deps, call(), refuse, same)
    # The claim, then the stored refusal with its audit entry.
    assert database.commits == 2
    [(state, _)] = [(held.record.state, k) for k, held in database.idempotency.items()]
    assert (state, len(database.audit)) == ("failed", 1)


def test_a_transient_failure_releases_the_key_and_audits_in_one_commit(
    deps: Dependencies, database: FakeDatabase
) -> None:
    def outage(done: object) -> bytes:
        raise Unavailable("Stripe is unreachable")

    with pytest.raises(Unavailable):
        run_mutation(deps, call(), outage, same)
    assert database.commits == 2
    assert (database.idempotency, [e.outcome for e in database.audit]) == ({}, ["UNAVAILABLE"])
    # Released: a retry with the key runs again.
    assert run_mutation(deps, call(), lambda done: b"ran", same) == b"ran"


def test_a_replayed_refusal_is_audited_again_without_another_claim(
    deps: Dependencies, database: FakeDatabase
) -> None:
    for _ in range(2):
        with pytest.raises(FailedPrecondition):
            run_mutation(deps, call(), refuse, same)
    # The replay reads the claim (a commit of nothing new) and audits.
    assert [e.outcome for e in database.audit] == ["FAILED_PRECONDITION"] * 2


def test_a_checkout_commits_its_claim_its_customer_link_and_its_answer(
    deps: Dependencies, database: FakeDatabase
) -> None:
    def checkout_for(account_id: str, key: str) -> bytes:
        return run_mutation(
            deps,
            Mutation("CreateCheckout", "svc-a", account_id, key, fingerprint=account_id),
            lambda done: checkout.create_checkout(
                deps,
                account_id=account_id,
                plan_name="pro",
                customer_email=None,
                idempotency_key=key,
                actor="svc-a",
                done=done,
            ),
            lambda session: session.id.encode(),
        )

    checkout_for("acct_1", "key-1")
    # The claim, the new customer's link (with the account), the session's
    # audit entry with its answer; the checks before Stripe only read.
    assert database.commits == 3
    checkout_for("acct_1", "key-2")
    # The customer is linked already: the claim and the answer.
    assert database.commits == 3 + 2
    assert [e.outcome for e in database.audit] == ["ok", "ok"]
