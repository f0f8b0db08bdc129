#!/usr/bin/python3
"""tern-cp with etcd v3 (Debian's etcd-server, started here on free ports)
as the service registry:

- an instance registered under the prefix with a lease reaches a proxy's
  endpoints within a second, and leaves them within a second of the lease
  being revoked;
- a value that is not HOST:PORT is counted and ignored, the rest stays;
- etcd restarted: tern-cp re-watches from the revision after the last one it
  saw (no new Range), changes made meanwhile arrive exactly once;
- tern-cp restarted with its CA directory: a reconnecting Delta proxy that
  says what it has gets nothing for what did not change.
"""

import os
import shutil
import tempfile
import time
import unittest
import urllib.error

from etcdlib import Etcd
from ternlib import poll_until
from terncplib import AdsClient, TernCp, T_CDS, T_EDS, unpack

MESH = """
trust_domain: mesh.test
services:
  web:
    token: web-token-0123456789abcd
    app: 127.0.0.1:9001
    inbound: 127.0.0.1:15001
    outbound: 127.0.0.1:15101
    calls: [api]
    allow: ["*"]
  api:
    token: api-token-0123456789abcd
    endpoints: [127.0.0.1:15002]
    allow: [web]
"""
WEB = "web-token-0123456789abcd"
PREFIX = "/tern/services/"


def eds_ports(resp):
    """Ports of the endpoints in a Delta EDS response's only resource."""
    cla = unpack(resp.resources[0].resource)
    return sorted(e.endpoint.address.socket_address.port_value
                  for loc in cla.endpoints for e in loc.lb_endpoints)


def subscribe_eds(c):
    c.subscribe(T_CDS)
    c.ack(c.recv())
    c.subscribe(T_EDS, sub=["outbound|api"])
    r = c.recv()
    c.ack(r)
    return r


def recv_eds(c, timeout=1.0):
    t0 = time.monotonic()
    r = c.recv(timeout=timeout)
    dt = time.monotonic() - t0
    assert r.type_url == T_EDS, r.type_url
    c.ack(r)
    return r, dt


class EtcdTest(unittest.TestCase):

    def setUp(self):
        self.etcd = Etcd().start()

    def tearDown(self):
        self.etcd.stop()
        shutil.rmtree(self.etcd.dir, ignore_errors=True)

    def cp(self, **kw):
        return TernCp(MESH, extra_args=["--etcd", self.etcd.target, "--etcd-prefix", PREFIX], **kw)

    def test_lease_register_and_revoke(self):
        e = self.etcd
        e.ok("put", PREFIX + "api/old", "127.0.0.1:15020")   # present before tern-cp starts
        with self.cp() as cp:
            c = AdsClient(cp.xds, "web-1", WEB, delta=True)
            try:
                r = subscribe_eds(c)
                self.assertEqual(eds_ports(r), [15002, 15020])

                lease = e.lease(30)
                e.ok("put", "--lease=" + lease, PREFIX + "api/i-1", "127.0.0.1:15030")
                r, dt = recv_eds(c)
                self.assertEqual(eds_ports(r), [15002, 15020, 15030])
                self.assertLess(dt, 1.0)

                e.ok("lease", "revoke", lease)
                r, dt = recv_eds(c)
                self.assertEqual(eds_ports(r), [15002, 15020])
                self.assertLess(dt, 1.0)

                # a value that does not parse: counted, ignored, nothing pushed
                e.ok("put", PREFIX + "api/bad", "not an address")
                e.ok("put", PREFIX + "nosuch-service/x", "127.0.0.1:1")   # kept, reaches no proxy
                e.ok("put", PREFIX + "api/i-2", "127.0.0.1:15040")
                r, _ = recv_eds(c)
                self.assertEqual(eds_ports(r), [15002, 15020, 15040])
                src = cp.json("/sources")[0]
                self.assertEqual(src["kind"], "etcd")
                self.assertEqual(src["bad_values"], 1)
                self.assertIn("not HOST:PORT", src["last_error"])
                self.assertEqual(sorted(i["key"] for i in src["instances"]),
                                 [PREFIX + "api/i-2", PREFIX + "api/old", PREFIX + "nosuch-service/x"])
                e.ok("del", PREFIX + "api/old")
                r, _ = recv_eds(c)
                self.assertEqual(eds_ports(r), [15002, 15040])
            finally:
                c.close()

    def test_etcd_restart_rewatch(self):
        e = self.etcd
        with self.cp() as cp:
            c = AdsClient(cp.xds, "web-2", WEB, delta=True)
            try:
                subscribe_eds(c)
                e.ok("put", PREFIX + "api/a", "127.0.0.1:15050")
                r, _ = recv_eds(c)
                self.assertEqual(eds_ports(r), [15002, 15050])
                rev = cp.json("/sources")[0]["revision"]
                resyncs = cp.json("/sources")[0]["resyncs"]

                e.stop()
                poll_until(lambda: cp.json("/sources")[0]["state"] == "backoff", desc="watch broken")
                e.start()
                # changes made right after the restart: delivered once each
                e.ok("put", PREFIX + "api/b", "127.0.0.1:15060")
                e.ok("del", PREFIX + "api/a")
                e.ok("put", PREFIX + "api/c", "127.0.0.1:15070")
                want = [15002, 15060, 15070]
                got = None
                deadline = time.monotonic() + 10
                while got != want and time.monotonic() < deadline:
                    got, _ = recv_eds(c, timeout=10)
                    got = eds_ports(got)
                self.assertEqual(got, want)
                src = cp.json("/sources")[0]
                self.assertEqual(src["state"], "watch")
                self.assertGreaterEqual(src["rewatches"], 1)
                self.assertEqual(src["resyncs"], resyncs, "re-watched from a revision, no new Range")
                self.assertEqual(src["revision"], rev + 3)
                self.assertEqual(src["events"], 4)
            finally:
                c.close()

    def test_no_push_before_the_registry_is_read(self):
        e = self.etcd
        e.ok("put", PREFIX + "api/a", "127.0.0.1:15110")
        e.stop()
        cp = self.cp()
        cp.start(wait_ready=False)
        try:
            self.assertRaises(urllib.error.HTTPError, cp.get, "/ready")
            c = AdsClient(cp.xds, "web-4", WEB, delta=True)
            c.subscribe(T_CDS)
            poll_until(lambda: cp.proxy("web-4") and cp.proxy("web-4")["types"]["cds"]["subscribed"],
                       desc="subscribed")
            self.assertEqual(cp.proxy("web-4")["types"]["cds"]["pushes"], 0, "held until etcd is read")
            e.start()
            r = c.recv(timeout=10)   # the backoff is at most 2 s
            self.assertEqual(r.type_url, T_CDS)
            c.ack(r)
            c.subscribe(T_EDS, sub=["outbound|api"])
            r = c.recv()
            self.assertEqual(eds_ports(r), [15002, 15110], "the first EDS push is complete")
            c.ack(r)
            self.assertEqual(cp.get("/ready"), "ready\n")
            c.close()
        finally:
            cp.stop()

    def test_terncp_restart_resync(self):
        e = self.etcd
        e.ok("put", PREFIX + "api/a", "127.0.0.1:15080")
        ca_dir = tempfile.mkdtemp(prefix="terncp_ca_")
        work = tempfile.mkdtemp(prefix="terncp_work_")
        cp = self.cp(ca_dir=ca_dir, workdir=work).start()
        c = AdsClient(cp.xds, "web-3", WEB, delta=True)
        c.subscribe(T_CDS)
        r = c.recv()
        have = {x.name: x.version for x in r.resources}
        c.ack(r)
        c.subscribe(T_EDS, sub=["outbound|api"])
        r = c.recv()
        have_eds = {x.name: x.version for x in r.resources}
        c.ack(r)
        with open(os.path.join(ca_dir, "ca.crt")) as f:
            ca1 = f.read()
        cp.stop()
        self.assertIsNotNone(c.wait_end(), "the stream ends with tern-cp")
        c.close()

        cp2 = TernCp(MESH, extra_args=["--etcd", self.etcd.target, "--etcd-prefix", PREFIX],
                     ca_dir=ca_dir, workdir=work)
        cp2.xds_port, cp2.admin_port = cp.xds_port, cp.admin_port
        with cp2:
            with open(os.path.join(ca_dir, "ca.crt")) as f:
                self.assertEqual(f.read(), ca1, "CA loaded, not replaced")
            c = AdsClient(cp2.xds, "web-3", WEB, delta=True)
            try:
                c.subscribe(T_CDS, initial=have)
                r = c.recv()
                self.assertEqual(len(r.resources), 0, "clusters unchanged across the restart")
                c.ack(r)
                c.subscribe(T_EDS, sub=["outbound|api"], initial=have_eds)
                r = c.recv()
                self.assertEqual(len(r.resources), 0, "endpoints unchanged across the restart")
                c.ack(r)
                e.ok("put", PREFIX + "api/b", "127.0.0.1:15090")
                r, _ = recv_eds(c)
                self.assertEqual(eds_ports(r), [15002, 15080, 15090])
            finally:
                c.close()


if __name__ == "__main__":
    unittest.main()
