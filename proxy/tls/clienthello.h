/*
 * clienthello.h: reading a TLS ClientHello from the first bytes of a TCP
 * stream, without terminating TLS (mode tcp SNI routing: req.ssl_sni,
 * req.ssl_hello_type, req.ssl_alpn).
 *
 * The parser is ours (no TLS library): the bytes are untrusted and may be
 * anything. Every length is checked against what contains it, the hello may
 * span several records, and the whole hello is bounded (max_len, at most
 * TLS_HELLO_MAX_LEN). It is pure: no allocation, no state kept between calls;
 * call it again from the start of the stream when more bytes arrived.
 *
 * Thread: any; reentrant.
 */
#ifndef TERN_TLS_CLIENTHELLO_H
#define TERN_TLS_CLIENTHELLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLS_HELLO_MAX_LEN 16384   /* handshake message bytes, header included */
#define TLS_HELLO_ALPN_MAX 256    /* wire-format ALPN bytes kept */
#define TLS_HELLO_VERSIONS_MAX 16 /* supported_versions entries kept */

enum tls_hello_result {
    TLS_HELLO_OK = 0,       /* a complete ClientHello; *out is filled */
    TLS_HELLO_NEED_MORE,    /* a valid prefix: call again with more bytes */
    TLS_HELLO_NOT_TLS,      /* the stream does not start with a TLS handshake record */
    TLS_HELLO_NOT_HELLO,    /* a TLS handshake, but not a ClientHello (out->hs_type) */
    TLS_HELLO_MALFORMED,    /* a length or a field breaks the protocol */
    TLS_HELLO_TOO_BIG,      /* the hello is longer than max_len */
};

struct tls_hello {
    uint8_t hs_type;          /* the first handshake message's type; 1 = ClientHello */
    uint16_t record_version;  /* of the first record (0x0301 usually) */
    uint16_t legacy_version;  /* ClientHello.legacy_version */
    size_t record_bytes;      /* bytes of the stream the hello took (records + headers) */

    bool has_sni;
    uint8_t sni_len;
    char sni[256];            /* host_name, NUL-terminated, as sent (case kept) */

    bool has_alpn;
    bool alpn_truncated;      /* more than TLS_HELLO_ALPN_MAX bytes were offered */
    uint16_t alpn_len;
    uint8_t n_alpn;           /* protocols kept in alpn[] */
    uint8_t alpn[TLS_HELLO_ALPN_MAX]; /* wire format: len, bytes, len, bytes... */

    bool has_versions;        /* a supported_versions extension */
    uint8_t n_versions;       /* kept (the list may hold up to 127) */
    uint16_t versions[TLS_HELLO_VERSIONS_MAX];
    uint16_t max_version;     /* highest offered (GREASE ignored): 0x0304 = TLS 1.3 */
};

/*
 * Parses the ClientHello at the start of `data` (`len` bytes received so
 * far). `max_len`: the largest handshake message accepted (0 or more than
 * TLS_HELLO_MAX_LEN: TLS_HELLO_MAX_LEN). Returns a TLS_HELLO_* result; *out
 * is complete only with TLS_HELLO_OK.
 */
enum tls_hello_result tls_hello_parse(const uint8_t *data, size_t len, size_t max_len,
                                      struct tls_hello *out);

/* Iterates the ALPN protocols of h: *pos starts at 0. Returns false at the end. */
bool tls_hello_next_alpn(const struct tls_hello *h, size_t *pos, const char **name,
                         size_t *name_len);

const char *tls_hello_result_name(enum tls_hello_result r);

#endif /* TERN_TLS_CLIENTHELLO_H */
