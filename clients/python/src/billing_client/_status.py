"""Reads and writes `google.rpc.Status` without googleapis-common-protos.

The client may depend on grpcio and protobuf only, so the three google.rpc
messages it needs are declared here as descriptors, in a private descriptor
pool (so they never clash with the real `google.rpc` modules when a process
imports both) and parsed by protobuf itself, not by hand: unknown fields,
field order and packed encodings are then handled as protobuf handles them.
The wire format is all that matters, and it is the same as the real
messages' (same field numbers and types).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

STATUS_DETAILS_KEY = "grpc-status-details-bin"
ERROR_DOMAIN = "billing.paymentsvc"
_TYPE_URL_PREFIX = "type.googleapis.com/"
_ERROR_INFO = "google.rpc.ErrorInfo"
_BAD_REQUEST = "google.rpc.BadRequest"

_F = descriptor_pb2.FieldDescriptorProto


@dataclass(frozen=True)
class StatusDetails:
    """What a `google.rpc.Status` holds that the client cares about."""

    code: int
    message: str
    reason: str | None = None
    domain: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    # (field, description) pairs from a google.rpc.BadRequest.
    field_violations: tuple[tuple[str, str], ...] = ()


def _field(
    name: str,
    number: int,
    kind: descriptor_pb2.FieldDescriptorProto.Type.ValueType,
    *,
    repeated: bool = False,
    type_name: str = "",
) -> descriptor_pb2.FieldDescriptorProto:
    label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    built = _F(name=name, number=number, type=kind, label=label)
    if type_name:  # setting it empty would still mark it present
        built.type_name = type_name
    return built


def _build_messages() -> dict[str, type[Message]]:
    file = descriptor_pb2.FileDescriptorProto(
        name="billing_client/_rpc_status.proto", package="google.rpc", syntax="proto3"
    )
    file.message_type.add(
        name="Any",
        field=[_field("type_url", 1, _F.TYPE_STRING), _field("value", 2, _F.TYPE_BYTES)],
    )
    file.message_type.add(
        name="Status",
        field=[
            _field("code", 1, _F.TYPE_INT32),
            _field("message", 2, _F.TYPE_STRING),
            _field("details", 3, _F.TYPE_MESSAGE, repeated=True, type_name=".google.rpc.Any"),
        ],
    )
    info = file.message_type.add(
        name="ErrorInfo",
        field=[
            _field("reason", 1, _F.TYPE_STRING),
            _field("domain", 2, _F.TYPE_STRING),
            _field(
                "metadata",
                3,
                _F.TYPE_MESSAGE,
                repeated=True,
                type_name=".google.rpc.ErrorInfo.MetadataEntry",
            ),
        ],
    )
    entry = info.nested_type.add(
        name="MetadataEntry",
        field=[_field("key", 1, _F.TYPE_STRING), _field("value", 2, _F.TYPE_STRING)],
    )
    entry.options.map_entry = True
    bad_request = file.message_type.add(
        name="BadRequest",
        field=[
            _field(
                "field_violations",
                1,
                _F.TYPE_MESSAGE,
                repeated=True,
                type_name=".google.rpc.BadRequest.FieldViolation",
            )
        ],
    )
    bad_request.nested_type.add(
        name="FieldViolation",
        field=[_field("field", 1, _F.TYPE_STRING), _field("description", 2, _F.TYPE_STRING)],
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"google.rpc.{name}"))
        for name in ("Any", "Status", "ErrorInfo", "BadRequest")
    }


_messages: dict[str, type[Message]] | None = None


def _message(name: str) -> Any:
    # Built on first use, not at import time: importing the client stays cheap.
    global _messages
    if _messages is None:
        _messages = _build_messages()
    return _messages[name]()


def decode_status(data: bytes) -> StatusDetails | None:
    """Decodes serialized `google.rpc.Status` bytes; None when they are not one."""
    status = _message("Status")
    try:
        status.ParseFromString(data)
    except DecodeError:
        return None
    reason = domain = None
    metadata: dict[str, str] = {}
    violations: list[tuple[str, str]] = []
    for detail in status.details:
        type_name = str(detail.type_url).rpartition("/")[2]
        try:
            if type_name == _ERROR_INFO and reason is None:
                info = _message("ErrorInfo")
                info.ParseFromString(detail.value)
                reason, domain = str(info.reason), str(info.domain)
                metadata = {str(k): str(v) for k, v in info.metadata.items()}
            elif type_name == _BAD_REQUEST:
                bad = _message("BadRequest")
                bad.ParseFromString(detail.value)
                violations.extend((str(v.field), str(v.description)) for v in bad.field_violations)
        except DecodeError:
            continue  # one malformed detail must not hide the others
    return StatusDetails(
        code=int(status.code),
        message=str(status.message),
        reason=reason,
        domain=domain,
        metadata=metadata,
        field_violations=tuple(violations),
    )


def details_from_metadata(
    metadata: Iterable[tuple[str, str | bytes]] | None,
) -> StatusDetails | None:
    """Finds and decodes the status details among a call's trailing metadata."""
    for key, value in metadata or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            return decode_status(value)
    return None


def encode_status(
    code: int, message: str, *, reason: str, metadata: Mapping[str, str], domain: str = ERROR_DOMAIN
) -> bytes:
    """Serializes a `google.rpc.Status` carrying one `google.rpc.ErrorInfo`."""
    info = _message("ErrorInfo")
    info.reason = reason
    info.domain = domain
    info.metadata.update(metadata)
    status = _message("Status")
    status.code = code
    status.message = message
    detail = status.details.add()
    detail.type_url = _TYPE_URL_PREFIX + _ERROR_INFO
    detail.value = info.SerializeToString()
    return bytes(status.SerializeToString())
