#!/usr/bin/python3
"""etcd as the mesh's registry, seen by real tern sidecars configured only by
tern-cp (Debian's etcd-server, started here on free ports):

    load loop -> frontend sidecar -> api sidecars -> api apps

api's only static endpoint is api-1. api-2's sidecar runs from the start but
receives nothing until its inbound address is put in etcd under a lease:
then the frontend sidecar sends it traffic within a second; once the lease
is revoked, within a second it sends it none. The same when the lease is
not revoked but expires (its keep-alive stopped). A client sending requests
back to back through the frontend sidecar the whole time sees no failure.
"""

import time
import unittest

from etcdlib import Etcd
from meshlib import LoadLoop, Mesh
from ternlib import HttpBackend, free_port, poll_until

PREFIX = "/tern/services/"
FRONT = "frontend-token-0123456789"
API = "api-token-0123456789abc"


def mesh(p):
    return """
trust_domain: mesh.test
cert_ttl: 10m
services:
  frontend:
    token: %(front)s
    outbound: 127.0.0.1:%(front_out)d
    calls: [api]
  api:
    token: %(api)s
    app: 127.0.0.1:%(api1_app)d
    inbound: 127.0.0.1:%(api1_in)d
    endpoints: [127.0.0.1:%(api1_in)d]
    allow: [frontend]
""" % dict(p, front=FRONT, api=API)


class MeshEtcdTest(unittest.TestCase):
    def setUp(self):
        self.etcd = Etcd().start()
        self.apps = [HttpBackend(name="API1"), HttpBackend(name="API2")]

    def tearDown(self):
        for a in self.apps:
            a.kill()
        self.etcd.remove()

    def new_mesh(self):
        """tern-cp watching etcd (not started yet) and the ports."""
        p = {"front_out": free_port(), "api1_in": free_port(), "api2_in": free_port(),
             "api1_app": self.apps[0].port}
        return Mesh(mesh(p), cp_args=["--etcd", self.etcd.target, "--etcd-prefix", PREFIX]), p

    def start_sidecars(self, m, p):
        """The frontend sidecar and both api sidecars, api-2 registered
        nowhere yet; everything ACKed."""
        m.sidecar("frontend-1", "frontend", FRONT)
        m.sidecar("api-1", "api", API)
        m.sidecar("api-2", "api", API, (
            ("tern.inbound", "127.0.0.1:%d" % p["api2_in"]),
            ("tern.app", "127.0.0.1:%d" % self.apps[1].port),
            ("tern.outbound", "127.0.0.1:%d" % free_port())))
        m.wait_acked()

    def test_lease_register_and_revoke_under_load(self):
        e, api2 = self.etcd, self.apps[1]
        m, p = self.new_mesh()
        with m:
            self.start_sidecars(m, p)
            with LoadLoop(p["front_out"], "api", "/load") as load:
                load.wait_ok(20, who="API1")
                self.assertEqual(load.count_ok(who="API2"), 0, "api-2 is not registered yet")

                # registered with a lease: api-2 takes traffic within 1 s
                lease = e.lease(30)
                t_put = time.monotonic()
                e.ok("put", "--lease=" + lease, PREFIX + "api/i-2", "127.0.0.1:%d" % p["api2_in"])
                poll_until(lambda: load.first(lambda r: r.who == "API2", since=t_put),
                           timeout=5, desc="a request answered by api-2")
                first = load.first(lambda r: r.who == "API2", since=t_put)
                dt_in = first.t1 - t_put
                print("ok: registered in etcd: the first request on api-2 answered %.3fs "
                      "after the put" % dt_in)
                self.assertLess(dt_in, 1.0)
                # balanced over both from then on
                load.wait_ok(20, since=first.t1, who="API2")
                load.wait_ok(20, since=first.t1, who="API1")
                self.assertTrue(any(r.target == "/load" for r in api2.requests))

                # lease revoked: no request is sent to api-2 more than 1 s later
                t_rev = time.monotonic()
                e.ok("lease", "revoke", lease)
                load.wait_ok(50, since=t_rev + 1.0, timeout=10)
                late = [r for r in load.since(t_rev + 1.0) if r.who != "API1"]
                self.assertEqual(late, [], "answered by another than api-1 1 s after the revoke")
                last = [r for r in load.since(t_rev) if r.who == "API2"]
                print("ok: lease revoked: the last request on api-2 answered %s"
                      % ("%.3fs after the revoke" % (last[-1].t1 - t_rev) if last
                         else "before the revoke"))
                n = len(load.snapshot())

            self.assertEqual(load.failures(), [], "failed requests under load")
            print("ok: %d requests through the frontend sidecar, none failed" % n)
            src = m.cp.json("/sources")[0]
            self.assertEqual((src["kind"], src["state"], src["instances"]), ("etcd", "watch", []))
            m.wait_acked()

    def test_lease_expiry_under_load(self):
        # the instance stops renewing its lease (it lost etcd, or died with
        # its keep-alive): etcd expires the lease and deletes the key, and
        # the endpoint leaves within a second of that
        e, ttl = self.etcd, 2
        m, p = self.new_mesh()
        with m:
            self.start_sidecars(m, p)
            with LoadLoop(p["front_out"], "api", "/load") as load:
                lease = e.lease(ttl)
                ka = e.keep_alive(lease)
                try:
                    e.ok("put", "--lease=" + lease, PREFIX + "api/i-2",
                         "127.0.0.1:%d" % p["api2_in"])
                    t0 = time.monotonic()
                    load.wait_ok(20, since=t0, who="API2")
                    # renewed: still registered well past one TTL
                    load.wait_ok(5, since=t0 + 2 * ttl, who="API2", timeout=3 * ttl)
                finally:
                    ka.kill()
                    ka.wait()
                t_stop = time.monotonic()
                # when the key is seen gone (a poll: at most one etcdctl
                # call after etcd deleted it)
                poll_until(lambda: e.ok("get", "--prefix", PREFIX + "api/") == "",
                           timeout=ttl + 5, desc="etcd expiring the lease")
                t_exp = time.monotonic()
                load.wait_ok(50, since=t_exp + 1.0, timeout=10)
                late = [r for r in load.since(t_exp + 1.0) if r.who != "API1"]
                self.assertEqual(late, [], "api-2 still answering 1 s after its lease expired")
                last = [r for r in load.since(t_stop) if r.who == "API2"]
                print("ok: keep-alive stopped; the key seen gone %.2fs later; the last "
                      "request on api-2 answered %s" % (
                          t_exp - t_stop, "%+.3fs from then" % (last[-1].t1 - t_exp)
                          if last else "before the keep-alive stopped"))
            self.assertEqual(load.failures(), [], "failed requests under load")
            print("ok: %d requests, none failed" % len(load.snapshot()))


if __name__ == "__main__":
    unittest.main()
