#!/usr/bin/python3
"""A gRPC server (python3-grpcio) for tern-cp's interop tests: method
/test.Echo/Say answers "<name>:<request bytes>". Prints "ready" once serving.
Usage: echo_server.py NAME PORT"""
import sys
from concurrent import futures

import grpc


def main():
    name, port = sys.argv[1], int(sys.argv[2])
    handler = grpc.method_handlers_generic_handler("test.Echo", {
        "Say": grpc.unary_unary_rpc_method_handler(lambda req, ctx: name.encode() + b":" + req),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
