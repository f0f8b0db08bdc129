/*
 * tls_test_util.h: what the TLS unit tests share: a test PKI generated once
 * per test binary by gen_certs.sh (openssl CLI; see that script for the
 * files), and a pump that drives two transports over a socketpair.
 */
#ifndef TERN_TESTS_TLS_TEST_UTIL_H
#define TERN_TESTS_TLS_TEST_UTIL_H

#include <stddef.h>

#include "proxy/tls/transport.h"

/* The directory holding the test PKI (generated on the first call). */
const char *tls_test_pki(void);
/* "<pki>/<name>" in a static buffer (one of 8 rotating). */
const char *tls_test_path(const char *name);

/* A nonblocking AF_UNIX socketpair. */
void tls_test_socketpair(int fds[2]);

/* Sets t->ready from poll() (level view of the socket). */
void tls_test_refresh(struct transport *t);

/* Drives both handshakes until each is done (1) or failed (TRANSPORT_ERROR).
 * Results in *rc_a, *rc_b. */
void tls_test_handshake(struct transport *a, struct transport *b, int *rc_a, int *rc_b);

/* Sends `len` bytes a->b and `len` bytes b->a at the same time through the
 * transports and checks both arrive intact. Returns 0 or -1. */
int tls_test_exchange(struct transport *a, struct transport *b, size_t len);

#endif
