#!/usr/bin/python3
"""Debian's python3-grpcio as an xDS client: dials xds:///TARGET (bootstrap
in $GRPC_XDS_BOOTSTRAP), makes N unary calls to /test.Echo/Say and prints
each answer on a line. Usage: py_xds_client.py TARGET N"""
import sys

import grpc


def main():
    target, n = sys.argv[1], int(sys.argv[2])
    with grpc.insecure_channel("xds:///" + target) as ch:
        say = ch.unary_unary("/test.Echo/Say")
        for i in range(n):
            print(say(b"py%d" % i, timeout=20, wait_for_ready=True).decode(), flush=True)


if __name__ == "__main__":
    main()
