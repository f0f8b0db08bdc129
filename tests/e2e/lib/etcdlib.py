"""etcdlib: Debian's etcd v3 (etcd-server, etcd-client) for end-to-end tests
of tern-cp's registry source.

  Etcd   one etcd member on free loopback ports, its data in a temp dir
         that survives restart(); etcdctl helpers (run, ok, lease,
         keep_alive)

A test that needs etcd is skipped when the binaries are missing (they are
installed by bazel/setup.sh). Waits poll (ternlib.poll_until).
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

from ternlib import free_port, poll_until


class Etcd:
    """Debian's etcd on free loopback ports, its data in a temp dir that
    survives restart()."""

    def __init__(self):
        self.bin = shutil.which("etcd")
        self.ctl = shutil.which("etcdctl")
        if not self.bin or not self.ctl:
            raise unittest.SkipTest("etcd-server / etcd-client not installed (bash bazel/setup.sh)")
        self.dir = tempfile.mkdtemp(prefix="terncp_etcd_")
        self.client = free_port()
        self.peer = free_port()
        self.proc = None

    @property
    def target(self):
        return "127.0.0.1:%d" % self.client

    def start(self):
        c, p = "http://127.0.0.1:%d" % self.client, "http://127.0.0.1:%d" % self.peer
        self.log = open(os.path.join(self.dir, "etcd.log"), "a")
        self.proc = subprocess.Popen(
            [self.bin, "--name", "t", "--data-dir", os.path.join(self.dir, "data"),
             "--listen-client-urls", c, "--advertise-client-urls", c,
             "--listen-peer-urls", p, "--initial-advertise-peer-urls", p,
             "--initial-cluster", "t=" + p, "--log-outputs", "stderr"],
            stdout=self.log, stderr=self.log)
        poll_until(lambda: self.run("endpoint", "health").returncode == 0, timeout=20,
                   desc="etcd healthy")
        return self

    def run(self, *args):
        return subprocess.run([self.ctl, "--endpoints", self.target, "--dial-timeout", "2s"] + list(args),
                              capture_output=True, text=True, env=dict(os.environ, ETCDCTL_API="3"))

    def ok(self, *args):
        r = self.run(*args)
        if r.returncode != 0:
            raise AssertionError("etcdctl %s: %s" % (args, r.stderr))
        return r.stdout

    def lease(self, ttl=30):
        out = self.ok("lease", "grant", str(ttl))
        return re.search(r"lease ([0-9a-f]+) granted", out).group(1)

    def keep_alive(self, lease):
        """`etcdctl lease keep-alive` in the background, as an instance
        keeps its registration; kill the process to let the lease expire."""
        return subprocess.Popen([self.ctl, "--endpoints", self.target, "lease", "keep-alive", lease],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=dict(os.environ, ETCDCTL_API="3"))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)
        self.log.close()

    def restart(self):
        self.stop()
        self.start()

    def remove(self):
        """Stops etcd and deletes its data."""
        if self.proc:
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
