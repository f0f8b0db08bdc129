/*
 * identity.h: who the peer of a TLS connection is, in the terms ACLs
 * (ssl_c_used, ssl_c_verify, ssl_c_s_dn, ssl_c_spiffe_id), RBAC filters, the
 * access log and the x-forwarded-client-cert header use.
 *
 * A `struct tls_peer_identity` is filled once per connection after the
 * handshake (tls_transport_peer_identity in tls.h, or tls_cert_identity for a
 * loaded certificate) and owns one heap block holding all its strings; free
 * it with tls_peer_identity_clear(). Every string is printable ASCII
 * (0x21..0x7e, and spaces in the subject): a SAN with other bytes is dropped
 * (counted in n_dropped), so nothing here can break a header or a log line.
 *
 * SPIFFE (X.509-SVID): spiffe_id is set only when the certificate has
 * exactly one URI SAN, it uses the spiffe scheme, and it is a valid SPIFFE ID
 * (tls_spiffe_id_check); otherwise spiffe_status says why not.
 *
 * Pure C (no TLS library): the extraction from a certificate is in
 * tls_openssl.c; validation and formatting are in identity.c.
 */
#ifndef TERN_TLS_IDENTITY_H
#define TERN_TLS_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

#define TLS_PEER_MAX_DNS 16     /* DNS SANs kept; more set dns_truncated */
#define TLS_SPIFFE_ID_MAX 2048  /* bytes, per the SPIFFE ID spec */
#define TLS_SPIFFE_TD_MAX 255   /* trust domain bytes */

enum tls_spiffe_status {
    TLS_SPIFFE_OK = 0,
    TLS_SPIFFE_NONE,          /* no URI SAN with the spiffe scheme */
    TLS_SPIFFE_MULTIPLE_URI,  /* more than one URI SAN: an SVID has exactly one */
    TLS_SPIFFE_INVALID,       /* a spiffe: URI that breaks the spec */
};

struct tls_peer_identity {
    bool cert_present;       /* ssl_c_used */
    bool verified;           /* present and the chain verified */
    long verify_result;      /* ssl_c_verify: the library's code, 0 = ok */
    enum tls_spiffe_status spiffe_status;
    const char *spiffe_id;   /* "spiffe://td/path" or NULL */
    size_t spiffe_td_len;    /* bytes of the trust domain, after "spiffe://" */
    const char *uri;         /* the URI SAN when there is exactly one, else NULL */
    const char *subject;     /* RFC 2253 DN ("CN=x,O=y"), or NULL */
    const char *dns[TLS_PEER_MAX_DNS];
    unsigned n_dns;
    bool dns_truncated;
    unsigned n_dropped;      /* SANs dropped for unprintable bytes */
    char hash[65];           /* SHA-256 of the DER certificate, lowercase hex */
    char *storage;           /* owns every string above */
};

/* Frees the strings and zeroes *id. */
void tls_peer_identity_clear(struct tls_peer_identity *id);

/*
 * Checks a SPIFFE ID (`len` bytes): "spiffe://" (lowercase), a trust domain
 * of 1..255 chars from [a-z0-9.-_], then a path of zero or more "/segment",
 * each segment non-empty, from [a-zA-Z0-9.-_], neither "." nor "..", no
 * trailing '/', no query or fragment, no percent-encoding; 2048 bytes at
 * most. Returns true when valid, with *td_len the trust domain's length.
 */
bool tls_spiffe_id_check(const char *s, size_t len, size_t *td_len);

/*
 * Formats one x-forwarded-client-cert element in Envoy's format:
 *   By=<by>;Hash=<hex>;Subject="<dn>";URI=<uri>;DNS=<name>;DNS=<name>
 * `by` (our own certificate's URI SAN) is left out when NULL; Subject is
 * always quoted; any other value holding ',', ';', '=', '"', '\' or a space
 * is quoted; inside quotes '"' and '\' are escaped with '\'. (Envoy escapes
 * only '"'; escaping the backslash too keeps a DN's own RFC 2253 escapes
 * unambiguous for a parser.) Returns the length the element needs
 * (snprintf-style: the output is complete when the result < cap; dst is
 * always NUL-terminated when cap > 0).
 */
size_t tls_xfcc_format(char *dst, size_t cap, const char *by, const struct tls_peer_identity *id);

#endif /* TERN_TLS_IDENTITY_H */
