"""The bare grpcio server of the baseline: a unary method echoing its bytes.

    python -m bench._echo_server --port 50099 [--threads 4]

No protobuf, no interceptor, no database: what grpcio itself costs per call
with a thread pool, the same server model as billing-server.
"""

from __future__ import annotations

import argparse
from concurrent import futures

import grpc

from billing_server.entrypoints.stop_signals import StopSignals

SERVICE = "bench.Echo"
METHOD = f"/{SERVICE}/Echo"


def _echo(request: bytes, context: grpc.ServicerContext) -> bytes:
    return request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.threads))
    # No (de)serializers: bytes in, bytes out.
    handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(_echo)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {"Echo": handler}),)
    )
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    print(f"echo server on 127.0.0.1:{args.port}", flush=True)
    StopSignals().wait()
    server.stop(2).wait()


if __name__ == "__main__":
    main()
