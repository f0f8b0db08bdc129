#!/usr/bin/python3
"""Writes the seed corpus of xds_apply_fuzz (corpus/xds_apply/): whole
DiscoveryResponses that decode, pass the field check and translate, encoded
with Envoy's own .proto files through the e2e test control plane's builders
(tests/e2e/lib/xds_cp.py), plus a few that are refused for one reason each.

    /usr/bin/python3 tests/fuzz/xds/make_apply_corpus.py
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "e2e", "lib"))

from xds_cp import (CDS, CLUSTER, EnvoyProtos, LISTENER, cla, eds_cluster,  # noqa: E402
                    hcm_listener, route_config, static_cluster, tcp_listener)


class _P:  # the builders only need .msg
    def __init__(self):
        self.protos = EnvoyProtos()

    def msg(self, name, d):
        return self.protos.msg(name, d)


def main():
    p = _P()
    Resp = p.protos.cls("envoy.service.discovery.v3.DiscoveryResponse")
    out = os.path.join(HERE, "corpus", "xds_apply")
    os.makedirs(out, exist_ok=True)

    def write(name, msgs, type_url=CDS):
        r = Resp(version_info="1", type_url=type_url, nonce="1")
        for m in msgs:
            r.resources.add().Pack(m, type_url_prefix="type.googleapis.com/")
        with open(os.path.join(out, name), "wb") as f:
            f.write(r.SerializeToString())

    rc = route_config(p, "routes", [
        ("api", ["api.example.com", "*.api.example.com"],
         [({"prefix": "/v2/", "headers": [{"name": "x-canary", "exact_match": "1"}]}, "web2"),
          ({"safe_regex": {"regex": "/item/[0-9]+"}}, "web2"),
          ({"path": "/exact", "case_sensitive": False}, "web")]),
        ("all", ["*"], [({"prefix": "/", "headers": [
            {"name": "x-debug", "present_match": True, "invert_match": True}]}, "web"),
            ({"prefix": "/"}, "web2")])])
    everything = [
        eds_cluster(p, "web"), eds_cluster(p, "web2", lb_policy="LEAST_REQUEST"),
        static_cluster(p, "tcpc", [(9001, 1), (9002, 3, "DEGRADED"), (9003, 1, "UNHEALTHY")]),
        cla(p, "web", [(8001, 1), (8002, 2)]), cla(p, "web2", [(8003, 1)]),
        hcm_listener(p, "http", 10080, rds="routes"), rc,
        hcm_listener(p, "inline", 10081, route_config={
            "name": "inline", "virtual_hosts": [{"name": "v", "domains": ["*"], "routes": [
                {"match": {"prefix": "/"}, "route": {"cluster": "web"}}]}]}),
        tcp_listener(p, "tcp", 10082, "tcpc"),
    ]
    write("all_types", everything)
    write("clusters_only", everything[:3])
    write("listener_warming", [everything[5]])
    write("tcp_missing_cluster", [tcp_listener(p, "tcp", 10082, "nope")])
    write("bad_lb_policy", [p.msg(CLUSTER, {"name": "m", "type": "STATIC", "lb_policy": "MAGLEV"})])
    write("bad_field", [p.msg(CLUSTER, {"name": "d", "type": "STATIC", "dns_refresh_rate": "1s"})])
    write("bad_two_chains", [p.msg(LISTENER, {
        "name": "two", "address": {"socket_address": {"address": "127.0.0.1", "port_value": 1}},
        "filter_chains": [{}, {}]})])
    write("bad_regex", [route_config(p, "r", [("v", ["*"], [
        ({"safe_regex": {"regex": "(unclosed"}}, "web")])]), eds_cluster(p, "web"),
        hcm_listener(p, "h", 10083, rds="r")])
    print("wrote", out)


if __name__ == "__main__":
    main()
