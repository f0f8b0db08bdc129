"""The test PKI of the TLS end-to-end tests: made once per test module by
tests/unit/tls/gen_certs.sh with the openssl CLI (two CAs, ECDSA and RSA
leaves, a wildcard, SPIFFE client certificates, an expired one, a key
mismatch, an OCSP response); no key is checked in.

    import testpki
    from testpki import pki
    setUpModule = testpki.setup
    tearDownModule = testpki.teardown
    ... pki("ca.pem") ...
"""

import os
import shutil
import subprocess
import tempfile

GEN = os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "unit", "tls",
                   "gen_certs.sh")
_dir = None


def setup():
    global _dir
    _dir = tempfile.mkdtemp(prefix="tern-pki-", dir=os.environ.get("TEST_TMPDIR"))
    subprocess.run(["sh", GEN, _dir], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def teardown():
    if _dir:
        shutil.rmtree(_dir, ignore_errors=True)


def pki(name):
    """Path of a file of the test PKI (setup() must have run)."""
    assert _dir, "testpki.setup() has not run"
    return os.path.join(_dir, name)
