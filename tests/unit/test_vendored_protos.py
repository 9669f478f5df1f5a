"""The vendored google/rpc protos describe the messages the server sends.

Other languages decode the error details with protos/google/rpc/; the
server encodes them with googleapis-common-protos. Compiled, both must
define the same fields with the same numbers and types.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_tools import protoc  # type: ignore[import-untyped]

pytestmark = pytest.mark.unit

PROTOS = Path(__file__).resolve().parents[2] / "protos"
SENT: list[type[Message]] = [
    status_pb2.Status,
    error_details_pb2.ErrorInfo,
    error_details_pb2.BadRequest,
]


def fields(message: descriptor_pb2.DescriptorProto) -> dict[str, tuple[int, int, int, str]]:
    return {f.name: (f.number, f.type, f.label, f.type_name) for f in message.field}


def compiled(tmp_path: Path) -> dict[str, descriptor_pb2.DescriptorProto]:
    out = tmp_path / "rpc.binpb"
    well_known = str(Path(protoc.__file__).parent / "_proto")
    status = protoc.main(
        [
            "protoc",
            f"-I{PROTOS}",
            f"-I{well_known}",
            f"--descriptor_set_out={out}",
            "google/rpc/status.proto",
            "google/rpc/error_details.proto",
        ]
    )
    assert status == 0
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    return {f"{f.package}.{m.name}": m for f in files for m in f.message_type}


def as_proto(descriptor: Any) -> descriptor_pb2.DescriptorProto:
    message = descriptor_pb2.DescriptorProto()
    descriptor.CopyToProto(message)
    return message


@pytest.mark.parametrize("sent", SENT, ids=lambda m: m.DESCRIPTOR.full_name)
def test_the_vendored_message_matches_the_one_the_server_encodes(
    sent: type[Message], tmp_path: Path
) -> None:
    vendored = compiled(tmp_path)
    name = sent.DESCRIPTOR.full_name
    assert fields(vendored[name]) == fields(as_proto(sent.DESCRIPTOR))
    for nested in as_proto(sent.DESCRIPTOR).nested_type:
        (mine,) = [n for n in vendored[name].nested_type if n.name == nested.name]
        assert fields(mine) == fields(nested), f"{name}.{nested.name}"
