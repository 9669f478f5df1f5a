"""Garbage in, a client error out: fuzzing the gRPC services and the gateway.

Seeded and bounded, so that a failure reproduces: random bytes and random
well-typed messages go to every RPC, random bodies and headers to the
gateway. Whatever arrives, the answer is a client error (or OK), never
INTERNAL, UNKNOWN or a 5xx, and no message shows a traceback.
"""

from __future__ import annotations

import json
import random
import re
import string
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf.descriptor import FieldDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from sqlalchemy import func, select

from billing.v1 import billing_pb2, webhook_ingest_pb2
from billing_server.adapters.database import make_engine
from billing_server.adapters.orm import StripeEventRow
from tests.e2e.conftest import (
    E2E_WEBHOOK_SECRETS,
    BillingServer,
    Emulator,
    Gateway,
    gateway_env,
    server_env,
    start_gateway,
    start_server,
    token,
)
from tests.e2e.resilience_support import SERVING, authorized_channel, billing_stub, health_status
from tests.e2e.services import free_port
from tests.signing import signature_header

pytestmark = pytest.mark.e2e

SEED = 20240917
STREAM_PATIENCE_S = 0.1
MAX_MESSAGE = 1 << 20  # the server's grpc.max_receive_message_length
CLIENT_ERRORS = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    # IngestEvent, for a payload without a valid Stripe-Signature.
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.OUT_OF_RANGE,
}
# What a message must never show: how the server failed inside.
LEAKS = re.compile(
    r"Traceback|File \"|\b[A-Z][A-Za-z]*(Error|Exception)\b|NoneType|<class |"
    r"sqlalchemy|psycopg|sqlite3|google\.protobuf|billing_server\.",
)
KNOWN_VALUES = {
    "plan": ["free", "pro", "enterprise"],
    "feature": ["projects", "exports", "api_access", "sso"],
    "session_id": ["cs_test_" + "a" * 24, "cs_"],
}
EVENT_TYPES = [
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
    "product.created",
]


@dataclass(frozen=True)
class Rpc:
    path: str
    request_type: type[Message]
    # A server stream (a watch) stays open while all is well.
    streams: bool = False


def every_rpc() -> list[Rpc]:
    services: list[ServiceDescriptor] = [
        billing_pb2.DESCRIPTOR.services_by_name["BillingService"],
        webhook_ingest_pb2.DESCRIPTOR.services_by_name["WebhookIngestService"],
    ]
    return [
        Rpc(
            f"/{service.full_name}/{method.name}",
            GetMessageClass(method.input_type),
            method.server_streaming,
        )
        for service in services
        for method in service.methods
    ]


RPCS = every_rpc()


@pytest.fixture(scope="module")
def fuzzed_server(database_url: str, emulator: Emulator, e2e_logs: Path) -> Iterator[BillingServer]:
    env = server_env(database_url, emulator, free_port())
    env["PAYMENTSVC_RATE_LIMITS"] = "default=100000/100000"
    server = start_server(env, e2e_logs)
    yield server
    assert server.process.stop() == 0


@pytest.fixture(scope="module")
def fuzzed_gateway(fuzzed_server: BillingServer, e2e_logs: Path) -> Iterator[Gateway]:
    secret = f"whsec_{uuid.uuid4().hex}"
    gateway = start_gateway(gateway_env(fuzzed_server.target, free_port(), (secret,)), e2e_logs)
    yield gateway
    assert gateway.process.stop() == 0


def call_raw(channel: grpc.Channel, rpc: Rpc, payload: bytes) -> tuple[grpc.StatusCode, str]:
    if rpc.streams:
        return open_stream(channel, rpc, payload)
    send: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
        rpc.path, request_serializer=None, response_deserializer=None
    )
    try:
        send(payload, timeout=15)
    except grpc.RpcError as error:
        return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""


def open_stream(channel: grpc.Channel, rpc: Rpc, payload: bytes) -> tuple[grpc.StatusCode, str]:
    """A refused stream ends at once; an accepted one is still open at our deadline."""
    watch: grpc.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(
        rpc.path, request_serializer=None, response_deserializer=None
    )
    # The channel's BearerToken interceptor covers unary calls only.
    credentials = (("authorization", f"Bearer {token()}"),)
    stream: Any = watch(payload, timeout=STREAM_PATIENCE_S, metadata=credentials)
    try:
        for _ in stream:
            pass
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            return grpc.StatusCode.OK, ""
        return error.code(), error.details() or ""
    finally:
        stream.cancel()
    return grpc.StatusCode.OK, ""


def unexpected_errors(server: BillingServer) -> int:
    """How many calls the server logged as failing in a way it did not expect."""
    return server.process.log().count("unexpected error")


def assert_client_error(rpc: Rpc, payload: bytes, code: grpc.StatusCode, message: str) -> None:
    shown = payload[:80]
    assert code in CLIENT_ERRORS, f"{rpc.path} answered {code.name} ({message!r}) to {shown!r}"
    assert not LEAKS.search(message), f"{rpc.path} leaked {message!r} for {shown!r}"


# -- random bytes ------------------------------------------------------------


def random_bytes(rng: random.Random, rpc: Rpc) -> Iterator[bytes]:
    yield b""
    yield b"\x00"
    yield b"\xff" * 64
    yield rng.randbytes(MAX_MESSAGE - 1024)
    valid = sample_message(rpc.request_type).SerializeToString()
    for cut in range(1, len(valid)):
        yield valid[:cut]
    for _ in range(25):
        yield rng.randbytes(rng.choice([1, 2, 3, 8, 64, 512, 4096]))
    # Field tags that look right, followed by lengths that lie.
    yield b"\x0a\xff\xff\xff\xff\x0f" + rng.randbytes(16)
    yield b"\x12\x05abc"


def sample_message(request_type: type[Message]) -> Message:
    message = request_type()
    for field in message.DESCRIPTOR.fields:
        if field.is_repeated:
            continue
        if field.type == FieldDescriptor.TYPE_STRING:
            setattr(message, field.name, known(field.name) or f"acct_{uuid.uuid4().hex[:8]}")
        elif field.type == FieldDescriptor.TYPE_BYTES:
            setattr(message, field.name, b'{"object": "event"}')
        elif field.type == FieldDescriptor.TYPE_ENUM:
            setattr(message, field.name, 1)
    return message


def known(field_name: str) -> str | None:
    values = KNOWN_VALUES.get(field_name)
    return values[0] if values else None


@pytest.mark.parametrize("rpc", RPCS, ids=lambda rpc: rpc.path.rsplit("/", 1)[-1])
def test_random_bytes_are_refused_as_client_errors(fuzzed_server: BillingServer, rpc: Rpc) -> None:
    rng = random.Random(f"{SEED}:{rpc.path}")
    logged = unexpected_errors(fuzzed_server)
    with authorized_channel(fuzzed_server.target) as channel:
        for payload in random_bytes(rng, rpc):
            code, message = call_raw(channel, rpc, payload)
            assert_client_error(rpc, payload, code, message)
    assert unexpected_errors(fuzzed_server) == logged


def test_a_message_over_the_limit_is_refused_before_it_is_read(
    fuzzed_server: BillingServer,
) -> None:
    rpc = RPCS[0]
    with authorized_channel(fuzzed_server.target) as channel:
        code, _ = call_raw(channel, rpc, b"\x00" * (MAX_MESSAGE + 1))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED


# -- random well-typed messages -----------------------------------------------

ALPHABETS = [
    string.ascii_letters + string.digits,
    string.printable,
    "".join(map(chr, range(0x20))),  # control characters, NUL among them
    "é漢字😀\u202e\u200b\ufeff\ud7ff",
    "._:@/+-_ ",
]


def random_text(rng: random.Random, field_name: str) -> str:
    choice = rng.random()
    if choice < 0.25 and field_name in KNOWN_VALUES:
        return rng.choice(KNOWN_VALUES[field_name])
    if choice < 0.4:
        prefix = {"session_id": "cs_", "account_id": "acct_"}.get(field_name, "")
        return prefix + "".join(rng.choices(string.ascii_letters + string.digits, k=12))
    alphabet = rng.choice(ALPHABETS)
    length = rng.choice([0, 1, 2, 63, 64, 65, 127, 128, 129, 254, 255, 256, 1000, 5000])
    return "".join(rng.choices(alphabet, k=length))


def random_enum(rng: random.Random, known_numbers: list[int]) -> int:
    return rng.choice([*known_numbers, -1, len(known_numbers), 99, 2**31 - 1, -(2**31)])


def random_message(rng: random.Random, request_type: type[Message]) -> Message:
    message = request_type()
    descriptor = message.DESCRIPTOR
    in_oneofs = {field.name for oneof in descriptor.oneofs for field in oneof.fields}
    chosen = {
        rng.choice([None, *(field.name for field in oneof.fields)]) for oneof in descriptor.oneofs
    }
    for field in descriptor.fields:
        if field.name in in_oneofs and field.name not in chosen:
            continue
        if field.name not in in_oneofs and rng.random() < 0.15:
            continue  # left unset
        if field.is_repeated:
            if field.type == FieldDescriptor.TYPE_STRING:
                values = [random_text(rng, field.name) for _ in range(rng.choice([0, 1, 3, 200]))]
                getattr(message, field.name).extend(values)
        elif field.type == FieldDescriptor.TYPE_STRING:
            setattr(message, field.name, random_text(rng, field.name))
        elif field.type == FieldDescriptor.TYPE_BYTES:
            setattr(message, field.name, random_payload(rng))
        elif field.type == FieldDescriptor.TYPE_ENUM:
            assert field.enum_type is not None
            numbers = [value.number for value in field.enum_type.values]
            setattr(message, field.name, random_enum(rng, numbers))
    return message


def random_payload(rng: random.Random) -> bytes:
    """What IngestEvent might be handed: bytes, JSON, or JSON that is no event."""
    kind = rng.randrange(4)
    if kind == 0:
        return rng.randbytes(rng.choice([0, 1, 100, 10_000]))
    if kind == 1:
        return json.dumps(random_json(rng, 3)).encode()
    if kind == 2:
        return random_text(rng, "payload").encode()
    return json.dumps(
        {
            "id": rng.choice(["evt_", "", "nope", 7]),
            "object": rng.choice(["event", "charge"]),
            "type": random_text(rng, "type"),
            "data": random_json(rng, 2),
        }
    ).encode()


def random_json(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(7 if depth > 0 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 2**63, 1.5e308, rng.randint(-(10**9), 10**9)])
    if kind == 3:
        return random_text(rng, "json")
    if kind == 4:
        return []
    if kind == 5:
        return [random_json(rng, depth - 1) for _ in range(rng.randrange(4))]
    return {
        random_text(rng, "key")[:20]: random_json(rng, depth - 1) for _ in range(rng.randrange(5))
    }


@pytest.mark.parametrize("rpc", RPCS, ids=lambda rpc: rpc.path.rsplit("/", 1)[-1])
def test_random_well_typed_messages_are_answered_or_refused_as_client_errors(
    fuzzed_server: BillingServer, rpc: Rpc
) -> None:
    rng = random.Random(f"{SEED}:typed:{rpc.path}")
    logged = unexpected_errors(fuzzed_server)
    with authorized_channel(fuzzed_server.target) as channel:
        for _ in range(60):
            payload = random_message(rng, rpc.request_type).SerializeToString()
            code, message = call_raw(channel, rpc, payload)
            assert_client_error(rpc, payload, code, message)
    assert unexpected_errors(fuzzed_server) == logged


def random_event(rng: random.Random) -> bytes:
    """Shaped like a Stripe event, with contents nothing like Stripe's."""
    return json.dumps(
        {
            "id": f"evt_fuzz_{uuid.UUID(int=rng.getrandbits(128)).hex}",
            "object": "event",
            "type": rng.choice(EVENT_TYPES),
            "created": rng.choice([0, 1, 1_700_000_000, 2**31, 10**12, 10**15, 2**62]),
            "data": {"object": random_json(rng, 3) if rng.random() < 0.3 else {}},
        }
    ).encode()


def test_events_with_nonsense_inside_are_refused_as_client_errors(
    fuzzed_server: BillingServer,
) -> None:
    rng = random.Random(f"{SEED}:events")
    rpc = ingest_rpc()
    with authorized_channel(fuzzed_server.target) as channel:
        for _ in range(40):
            payload = signed(random_event(rng)).SerializeToString()
            code, message = call_raw(channel, rpc, payload)
            assert_client_error(rpc, payload, code, message)
            # Signed, it gets past the signature: what refuses it is the parser.
            assert code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT), message


def ingest_rpc() -> Rpc:
    return next(rpc for rpc in RPCS if rpc.path.endswith("/IngestEvent"))


def signed(body: bytes) -> webhook_ingest_pb2.IngestEventRequest:
    """As the gateway forwards it: with a signature made with the server's secret."""
    return webhook_ingest_pb2.IngestEventRequest(
        payload=body, stripe_signature=signature_header(body, E2E_WEBHOOK_SECRETS[0])
    )


def ingest(server: BillingServer, event: dict[str, Any]) -> tuple[grpc.StatusCode, str]:
    payload = signed(json.dumps(event).encode())
    with authorized_channel(server.target) as channel:
        return call_raw(channel, ingest_rpc(), payload.SerializeToString())


@pytest.mark.parametrize("created", [10**12, 2**62, -(10**12)])
def test_an_event_created_out_of_range_is_invalid(
    fuzzed_server: BillingServer, created: int
) -> None:
    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": "product.created",
        "created": created,
        "data": {"object": {"id": "prod_x", "object": "product"}},
    }
    assert ingest(fuzzed_server, event)[0] == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("obj", [{}, {"object": "subscription"}, {"id": 42}])
def test_a_subscription_event_naming_no_subscription_is_invalid(
    fuzzed_server: BillingServer, obj: dict[str, Any]
) -> None:
    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": "customer.subscription.updated",
        "created": 1_700_000_000,
        "data": {"object": obj},
    }
    assert ingest(fuzzed_server, event)[0] == grpc.StatusCode.INVALID_ARGUMENT


def test_hostile_events_are_invalid_even_when_signed(fuzzed_server: BillingServer) -> None:
    def event(obj: Any) -> dict[str, Any]:
        return {
            "id": f"evt_{uuid.uuid4().hex}",
            "object": "event",
            "type": "customer.subscription.created",
            "created": 1_700_000_000,
            "data": {"object": obj},
        }

    deep: Any = 1
    for _ in range(200):
        deep = {"a": deep}
    hostile = [
        event({"id": "sub_1", "metadata": deep}),
        event({"id": "sub_\u0000"}),
        event({"id": "sub_1", "metadata": {"k": "\ud800"}}),
        event({"id": "sub_" + "x" * 10_000}),
        {**event({"id": "sub_1"}), "id": "evt_" + "x" * 10_000},
    ]
    for payload in hostile:
        code, message = ingest(fuzzed_server, payload)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, message
        assert not LEAKS.search(message), message
    engine = make_engine(fuzzed_server.env["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as connection:
            found = connection.scalar(
                select(func.count()).where(
                    StripeEventRow.event_id.in_([str(p["id"])[:255] for p in hostile])
                )
            )
    finally:
        engine.dispose()
    assert found == 0


# -- the gateway ----------------------------------------------------------------


def random_signature(rng: random.Random, payload: bytes) -> str | None:
    return rng.choice(
        [
            None,
            "",
            "t=,v1=",
            "garbage",
            "v1=" + "0" * 64,
            "t=abc,v1=def",
            "t=-1,v1=" + "a" * 64,
            f"t={2**70},v1=" + "f" * 64,
            signature_header(payload, "whsec_not_ours"),
            signature_header(payload, "whsec_not_ours", timestamp=1),
            ",".join(["t=1"] * 200),
            "".join(rng.choices(string.printable.strip(), k=rng.randrange(1, 300))),
        ]
    )


def random_body(rng: random.Random) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:
        return rng.randbytes(rng.choice([0, 1, 100, 65_536]))
    if kind == 1:
        return json.dumps(random_json(rng, 4)).encode()
    if kind == 2:
        return random_event(rng)
    return random_text(rng, "body").encode("utf-8", "surrogatepass")


Send = Callable[[httpx.Client, random.Random], httpx.Response]


def post_unsigned(http: httpx.Client, rng: random.Random) -> httpx.Response:
    body = random_body(rng)
    headers = {"Content-Type": rng.choice(["application/json", "text/plain", "x/\x7f"])}
    signature = random_signature(rng, body)
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return http.post("/stripe/webhook", content=body, headers=headers)


def post_with_huge_headers(http: httpx.Client, rng: random.Random) -> httpx.Response:
    body = random_event(rng)
    headers = {
        "Stripe-Signature": "t=1,v1=" + "a" * rng.choice([1_000, 8_000, 30_000]),
        "X-Filler": "x" * rng.choice([100, 4_000, 30_000]),
    }
    return http.post("/stripe/webhook", content=body, headers=headers)


def post_oversized(http: httpx.Client, rng: random.Random) -> httpx.Response:
    body = rng.randbytes((1 << 20) + rng.randrange(1, 4096))
    return http.post("/stripe/webhook", content=body, headers={"Stripe-Signature": "t=1,v1=a"})


def other_method(http: httpx.Client, rng: random.Random) -> httpx.Response:
    method = rng.choice(["GET", "PUT", "PATCH", "DELETE"])
    return http.request(method, "/stripe/webhook", content=random_body(rng))


@pytest.mark.parametrize(
    ("send", "allowed", "rounds"),
    [
        pytest.param(post_unsigned, {400}, 120, id="unsigned"),
        pytest.param(post_with_huge_headers, {400}, 12, id="huge-headers"),
        pytest.param(post_oversized, {413}, 4, id="oversized"),
        pytest.param(other_method, {405}, 12, id="other-methods"),
    ],
)
def test_the_gateway_answers_garbage_with_a_client_error(
    fuzzed_gateway: Gateway, send: Send, allowed: set[int], rounds: int
) -> None:
    rng = random.Random(f"{SEED}:gateway:{send.__name__}")
    with httpx.Client(base_url=fuzzed_gateway.url, timeout=15) as http:
        statuses = [send(http, rng).status_code for _ in range(rounds)]
    assert set(statuses) <= allowed, statuses


# -- afterwards -----------------------------------------------------------------


def test_the_server_is_still_healthy_and_logged_no_unexpected_error(
    fuzzed_server: BillingServer, fuzzed_gateway: Gateway
) -> None:
    assert health_status(fuzzed_server.target) == SERVING
    with billing_stub(fuzzed_server.target) as stub:
        answer = stub.CheckPlan(
            billing_pb2.CheckPlanRequest(account_id="acct_after_fuzz", plan="free"), timeout=5
        )
    assert answer.allowed
    assert httpx.get(f"{fuzzed_gateway.url}/readyz", timeout=5).status_code == 200
    assert "Traceback" not in fuzzed_gateway.process.log()
