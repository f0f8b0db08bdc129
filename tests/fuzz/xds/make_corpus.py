#!/usr/bin/python3
"""Regenerates the seed corpus corpus/xds_decode/ from the C samples.

Usage: make_corpus.py SAMPLES_DIR OURS.pb OUT_DIR
  SAMPLES_DIR: output of //tests/unit/proto:xds_samples_dump
  OURS.pb:     //proto:xds_descriptor_set
Each resource sample is wrapped in a DiscoveryResponse and in a
DeltaDiscoveryResponse as a control plane would send it; a few edge cases
(empty, truncated, unknown type URL, removal only, Any of the wrong type) follow.
"""
import os
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PREFIX = "type.googleapis.com/"


def main(samples, ours_pb, out):
    fds = descriptor_pb2.FileDescriptorSet()
    with open(ours_pb, "rb") as f:
        fds.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)
    factory = message_factory.MessageFactory(pool)

    def cls(name):
        return factory.GetPrototype(pool.FindMessageTypeByName(name))

    Resp = cls("envoy.service.discovery.v3.DiscoveryResponse")
    Delta = cls("envoy.service.discovery.v3.DeltaDiscoveryResponse")
    os.makedirs(out, exist_ok=True)

    def write(name, data):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)

    for fname in sorted(os.listdir(samples)):
        name, full = fname[:-len(".bin")].split(".", 1)
        with open(os.path.join(samples, fname), "rb") as f:
            data = f.read()
        if full.startswith("envoy.service.discovery.v3.Discovery") or \
           full.startswith("envoy.service.discovery.v3.Delta"):
            if "Response" in full:
                write(name, data)
            continue
        r = Resp(version_info="1", type_url=PREFIX + full, nonce="n1")
        a = r.resources.add()
        a.type_url = PREFIX + full
        a.value = data
        write("sotw_" + name, r.SerializeToString())
        d = Delta(system_version_info="1", type_url=PREFIX + full, nonce="d1")
        res = d.resources.add(name=name, version="1")
        res.resource.type_url = PREFIX + full
        res.resource.value = data
        write("delta_" + name, d.SerializeToString())
        write("truncated_" + name, r.SerializeToString()[: len(data) // 2])

    write("empty", b"")
    r = Resp(version_info="2", type_url=PREFIX + "envoy.config.cluster.v3.Cluster", nonce="n2")
    a = r.resources.add(type_url=PREFIX + "envoy.config.cluster.v3.NoSuchThing", value=b"\x0a\x01x")
    a = r.resources.add(type_url=PREFIX + "envoy.config.cluster.v3.Cluster", value=b"\x0a\xff\xff\xff\xff\x0f")
    write("bad_resources", r.SerializeToString())
    d = Delta(system_version_info="3", type_url=PREFIX + "envoy.config.cluster.v3.Cluster", nonce="d3",
              removed_resources=["a", "b"])
    write("delta_removed_only", d.SerializeToString())


if __name__ == "__main__":
    main(*sys.argv[1:4])
