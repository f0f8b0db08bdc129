#!/usr/bin/python3
"""HTTP filters and route policies from xDS, encoded with Envoy's own .proto
files (tests/e2e/lib/xds_cp.py), both protocols:

- envoy.filters.http.local_ratelimit (enabled and enforced 100%) -> tern's
  rate-limit filter: the request after the bucket is empty gets 429;
- envoy.filters.http.rbac -> tern's rbac filter: an ALLOW policy whose only
  principal is a SPIFFE ID denies a plaintext client (403), one with
  `any` lets it through;
- RouteAction.retry_policy (retry_on 5xx) -> retry-on + the retry filter:
  a cluster whose first endpoint answers 503 serves every request; without
  the policy some get the 503;
- RouteAction.timeout -> the cluster's server timeout: 504 well before the
  slow backend answers;
- unsupported settings (a 50% enforced rate limit, an RBAC permission other
  than `any`, two routes to one cluster with different timeouts) NACKed with
  the field named, the previous configuration kept.
"""

import time
import unittest

from ternlib import HttpBackend, Tern, free_port, http_get
from xds_cp import (CDS, LDS, RDS, ControlPlane, TYPE, hcm_listener, route_config,
                    static_cluster)
from xds_scenario import cfg

RL = TYPE + "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
RBAC = TYPE + "envoy.extensions.filters.http.rbac.v3.RBAC"
ALL = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}}


def ratelimit(tokens, enforced=ALL):
    return ("envoy.filters.http.local_ratelimit", {
        "@type": RL, "stat_prefix": "rl",
        "token_bucket": {"max_tokens": tokens, "tokens_per_fill": 1, "fill_interval": "60s"},
        "filter_enabled": ALL, "filter_enforced": enforced})


def rbac(principal, permission=None):
    return ("envoy.filters.http.rbac", {
        "@type": RBAC, "rules": {"action": "ALLOW", "policies": {"p": {
            "permissions": [permission or {"any": True}], "principals": [principal]}}}})


class XdsHttpFiltersTest(unittest.TestCase):
    def run_protocol(self, protocol):
        bad = HttpBackend(name="BAD", hook=lambda req: (
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbad\n"))
        good = HttpBackend(name="GOOD")
        cp = ControlPlane()
        ports = {k: free_port() for k in ("rl", "deny", "any", "retry", "admin")}
        cp.set(CDS, [static_cluster(cp, "flaky", [(bad.port, 1), (good.port, 1)]),
                     static_cluster(cp, "flaky-noretry", [(bad.port, 1), (good.port, 1)]),
                     static_cluster(cp, "plain", [(good.port, 1)]),
                     static_cluster(cp, "slowc", [(good.port, 1)])])
        cp.set(RDS, [
            route_config(cp, "all", [("all", ["*"], [({"prefix": "/"}, "plain")])]),
            route_config(cp, "policies", [("all", ["*"], [
                ({"prefix": "/retry"}, "flaky", {"retry_policy": {
                    "retry_on": "5xx", "num_retries": 2, "per_try_timeout": "2s"}}),
                ({"prefix": "/noretry"}, "flaky-noretry"),
                ({"prefix": "/slow"}, "slowc", {"timeout": "0.3s"}),
                ({"prefix": "/"}, "plain")])])])
        cp.set(LDS, [
            hcm_listener(cp, "rl", ports["rl"], rds="all", http_filters=[ratelimit(3)]),
            hcm_listener(cp, "deny", ports["deny"], rds="all", http_filters=[
                rbac({"authenticated": {"principal_name": {"exact": "spiffe://mesh.test/x"}}})]),
            hcm_listener(cp, "any", ports["any"], rds="all", http_filters=[rbac({"any": True})]),
            hcm_listener(cp, "retry", ports["retry"], rds="policies")])
        try:
            # one worker: the bucket's exact count (3 tokens, then 429) assumes one
            # loop clock; two workers' cached clocks may differ by a loop turn, which
            # the rate-limit filter treats as a plain denial (filters/http/rate_limit)
            text = cfg(cp.port, ports["admin"], protocol).replace("nbthread 2", "nbthread 1")
            with Tern(text, admin_port=ports["admin"],
                      ready_timeout=15) as t:
                for typ in (CDS, RDS, LDS):
                    cp.wait_ack(typ)

                # local_ratelimit: 3 tokens, then 429
                codes = [http_get(ports["rl"], "/x")[0] for _ in range(4)]
                self.assertEqual(codes, [200, 200, 200, 429])

                # rbac: a SPIFFE principal denies a plaintext client; `any` allows
                self.assertEqual(http_get(ports["deny"], "/x")[0], 403)
                self.assertEqual(http_get(ports["any"], "/x")[0], 200)
                m = t.metrics()
                self.assertGreaterEqual(m.sum("tern_rbac_denied_total"), 1)

                # retry_policy 5xx: every request ends on GOOD
                for i in range(10):
                    st, _, body = http_get(ports["retry"], "/retry/%d" % i)
                    self.assertEqual((st, body.split(" ")[0]), (200, "GOOD"), body)
                self.assertTrue(any("/retry" in r.target for r in bad.requests))
                # the same endpoints without a policy: the 503 reaches the client
                codes = [http_get(ports["retry"], "/noretry/%d" % i)[0] for i in range(10)]
                self.assertIn(503, codes)

                # timeout 0.3s: 504 long before the backend's 3 s
                t0 = time.monotonic()
                st = http_get(ports["retry"], "/slow/3000", timeout=10)[0]
                self.assertEqual(st, 504)
                self.assertLess(time.monotonic() - t0, 2.5)

                # unsupported settings: NACKed, the field named, nothing applied
                nonce = cp.send_raw(LDS, [hcm_listener(
                    cp, "rl", ports["rl"], rds="all",
                    http_filters=[ratelimit(3, {"default_value": {"numerator": 50}})])], "bad-1")
                detail = cp.wait_nack(LDS, nonce).error_detail.message
                self.assertIn("Listener 'rl'", detail)
                self.assertIn("only 0% or 100%", detail)
                nonce = cp.send_raw(LDS, [hcm_listener(
                    cp, "deny", ports["deny"], rds="all", http_filters=[rbac(
                        {"any": True}, {"header": {"name": "x", "exact_match": "y"}})])], "bad-2")
                detail = cp.wait_nack(LDS, nonce).error_detail.message
                self.assertIn("Listener 'deny'", detail)
                self.assertIn("envoy.config.rbac.v3.Permission", detail)
                nonce = cp.send_raw(RDS, [route_config(cp, "policies", [("all", ["*"], [
                    ({"prefix": "/a"}, "slowc", {"timeout": "1s"}),
                    ({"prefix": "/"}, "slowc", {"timeout": "2s"})])])], "bad-3")
                detail = cp.wait_nack(RDS, nonce).error_detail.message
                self.assertIn("tern applies them per cluster", detail)
                nonce = cp.send_raw(RDS, [route_config(cp, "policies", [("all", ["*"], [
                    ({"prefix": "/"}, "slowc", {"retry_policy": {"retry_on": "retriable-4xx"}})
                ])])], "bad-4")
                detail = cp.wait_nack(RDS, nonce).error_detail.message
                self.assertIn("retry_on 'retriable-4xx' is not supported", detail)
                # still the accepted configuration
                self.assertEqual(http_get(ports["rl"], "/x")[0], 429)
                self.assertEqual(http_get(ports["deny"], "/x")[0], 403)
                st, _, body = http_get(ports["retry"], "/retry/again")
                self.assertEqual((st, body.split(" ")[0]), (200, "GOOD"))
        finally:
            cp.stop()
            bad.kill()
            good.kill()

    def test_sotw(self):
        self.run_protocol("sotw")

    def test_delta(self):
        self.run_protocol("delta")


if __name__ == "__main__":
    unittest.main()
