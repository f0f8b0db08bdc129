"""mode http content switching: `acl` lines and `use_backend ... if|unless`
route requests by host (hdr(host) -i), path (path_beg, path_end), header
(hdr(x-canary)), method and source address, with negation, `||` and
anonymous `{ }` ACLs; the first matching rule wins, default_backend takes
the rest, a target without a usable server answers 503, and each backend
sees only the requests routed to it."""

import http.client
import unittest

from ternlib import HttpBackend, Tern, cfg_http, free_port, poll_until

NAMES = ("api", "web", "canary", "meth", "srcb", "dflt")


class HttpRoutingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = {n: HttpBackend(n) for n in NAMES}
        cls.empty = HttpBackend("empty")
        cls.fp = free_port()
        backends = "".join("backend %s\n    server s1 127.0.0.1:%d\n" % (n, cls.b[n].port)
                           for n in NAMES)
        backends += "backend empty\n    server s1 127.0.0.1:%d disabled\n" % cls.empty.port
        cls.t = Tern(cfg_http(nbthread=2) + (
            "frontend fe\n"
            "    bind 127.0.0.1:%d\n"
            "    option tern-error-header\n"
            "    acl host_api hdr(host) -i api.example.com\n"
            "    acl is_static path_beg /static/ /assets/\n"
            "    acl canary hdr(x-canary) -m str yes\n"
            "    acl is_delete method DELETE\n"
            "    acl from_two src 127.0.0.2/32\n"
            "    acl admin path_beg /admin\n"
            "    use_backend empty if { path_beg /empty }\n"
            "    use_backend api if host_api !admin\n"
            "    use_backend web if is_static || { path_end .css }\n"
            "    use_backend canary if canary\n"
            "    use_backend meth if is_delete\n"
            "    use_backend srcb if from_two\n"
            "    default_backend dflt\n" % cls.fp) + backends)
        cls.t.start()

    @classmethod
    def tearDownClass(cls):
        cls.t._cleanup(failed=False)
        for b in cls.b.values():
            b.kill()
        cls.empty.kill()

    def request(self, path, method="GET", headers=None, src=None):
        c = http.client.HTTPConnection("127.0.0.1", self.fp, timeout=5,
                                       source_address=(src, 0) if src else None)
        try:
            c.request(method, path, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def routed(self, expect, path, method="GET", headers=None, src=None):
        """The request reaches backend `expect`, and no other backend."""
        st, _, body = self.request(path, method, headers, src)
        self.assertEqual(st, 200)
        self.assertEqual(body, ("%s %s %s\n" % (expect, method, path)).encode())
        poll_until(lambda: any(q.target == path for q in self.b[expect].requests),
                   desc="%s saw %s" % (expect, path))
        for n in NAMES:
            if n != expect:
                self.assertEqual([q for q in self.b[n].requests if q.target == path], [],
                                 "%s saw %s" % (n, path))
        self.assertEqual([q for q in self.empty.requests if q.target == path], [])

    def test_host(self):
        self.routed("api", "/h1", headers={"Host": "api.example.com"})
        self.routed("api", "/h2", headers={"Host": "API.Example.COM"})  # -i
        self.routed("dflt", "/h3", headers={"Host": "www.example.com"})

    def test_negation(self):
        # host_api !admin: the admin path of the API host is not for api
        self.routed("dflt", "/admin/x", headers={"Host": "api.example.com"})

    def test_path_and_or(self):
        self.routed("web", "/static/app.js")
        self.routed("web", "/assets/logo.png")
        self.routed("web", "/theme/site.css")  # the anonymous ACL after ||
        self.routed("dflt", "/staticx")

    def test_header(self):
        self.routed("canary", "/c1", headers={"X-Canary": "yes"})
        self.routed("dflt", "/c2", headers={"X-Canary": "no"})
        self.routed("dflt", "/c3", headers={"X-Canary": "YES"})  # case-sensitive

    def test_method(self):
        self.routed("meth", "/m1", method="DELETE")
        self.routed("dflt", "/m2", method="POST")

    def test_src(self):
        self.routed("srcb", "/s1", src="127.0.0.2")
        self.routed("dflt", "/s2", src="127.0.0.3")

    def test_first_match_wins(self):
        # matches api, web and canary: the api rule comes first
        self.routed("api", "/static/a", headers={"Host": "api.example.com", "X-Canary": "yes"})
        # matches web and canary: web comes first
        self.routed("web", "/static/b", headers={"X-Canary": "yes"})
        # matches canary, meth and srcb: canary comes first
        self.routed("canary", "/o1", method="DELETE", headers={"X-Canary": "yes"},
                    src="127.0.0.2")

    def test_target_without_server_503(self):
        st, hdrs, _ = self.request("/empty/x")
        self.assertEqual(st, 503)
        self.assertEqual(hdrs.get("x-tern-error"), "no_healthy_upstream")
        self.assertEqual(self.empty.requests, [])
        for n in NAMES:
            self.assertEqual([q for q in self.b[n].requests if q.target == "/empty/x"], [])


if __name__ == "__main__":
    unittest.main()
