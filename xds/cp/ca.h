/*
 * ca.h: tern-cp's certificate authority.
 *
 * An ECDSA P-256 CA key and self-signed CA certificate, loaded from
 * <dir>/ca.key and <dir>/ca.crt when they exist, generated on first start
 * otherwise (and written there when a directory is given, the key 0600).
 * Leaf certificates: a fresh P-256 key each, the identity's SPIFFE ID as the
 * only URI SAN, serverAuth+clientAuth, lifetime `ttl`. One current leaf per
 * identity; ca_due() says when the next one passes half its lifetime, when
 * it is re-issued so rotation is continuous.
 *
 * Thread: main thread. Keys never leave this module except in the PEM
 * handed to gen (SDS), and are never logged.
 */
#ifndef TERNCP_CA_H
#define TERNCP_CA_H

#include <stdint.h>
#include <time.h>

#include <event2/buffer.h>

struct ca;

struct ca_leaf {
	char *identity;      /* spiffe://td/service */
	char *cert_pem;
	char *key_pem;
	char serial[40];     /* hex */
	time_t not_before, not_after, renew_at;
};

/* Opens or creates the CA. dir may be NULL (an in-memory CA). NULL with a
 * message in err on failure. */
struct ca *ca_open(const char *dir, char *err, size_t errlen);

void ca_free(struct ca *ca);

/* The CA certificate (PEM, the trust bundle). */
const char *ca_cert_pem(const struct ca *ca);

/* The current leaf of `identity`, issued now if there is none, it is past
 * renew_at, or its lifetime differs from ttl_s. NULL if signing failed
 * (logged). *issued is set to 1 when a new certificate was signed. */
const struct ca_leaf *ca_leaf(struct ca *ca, const char *identity, uint32_t ttl_s, int *issued);

/* A certificate for tern-cp's own xDS port: `identity` as the URI SAN plus
 * `sans` ("DNS:tern-cp,IP:127.0.0.1", OpenSSL's syntax), lifetime ttl_s. Not
 * tracked for renewal: the caller owns *out (ca_leaf_free). 0, or -1
 * (logged). */
int ca_issue_serving(struct ca *ca, const char *identity, const char *sans, uint32_t ttl_s,
		     struct ca_leaf *out);
void ca_leaf_free(struct ca_leaf *l);
/* The earliest renew_at of the leaves (0 if none). */
time_t ca_due(const struct ca *ca);

/* JSON: CA subject and expiry, each leaf's identity, serial and validity. */
void ca_dump_json(const struct ca *ca, struct evbuffer *out);

#endif
