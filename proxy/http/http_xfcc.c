/*
 * http_xfcc.c: x-forwarded-client-cert (option forward-client-cert), the
 * header through which a sidecar tells its service who the mTLS peer was,
 * in Envoy's format (proxy/tls/identity.h formats one element).
 *
 * The field is trusted only when tern put it there: by default (sanitize)
 * any copy from the client is removed, so a plain-text or unauthenticated
 * client cannot claim an identity. Only a connection whose client
 * certificate verified counts as mTLS; otherwise every mode sanitizes, as
 * Envoy does.
 */
#include <string.h>

#include "proxy/http/http_int.h"
#include "proxy/tls/identity.h"

#define XFCC "x-forwarded-client-cert"
#define XFCC_LEN (sizeof(XFCC) - 1)
#define XFCC_ELEMENT_MAX 4096 /* one element: hash, subject, URI, DNS names */

int http_xfcc_apply(struct stream *s, uint32_t maxhdr)
{
    const struct h1_tls *tls = s->tls; /* HTTP/1.1 or HTTP/2 client over TLS */
    bool mtls = tls && tls->peer.cert_present && tls->peer.verified;
    enum xfcc_mode mode = (enum xfcc_mode)s->l->xfcc;
    char elem[XFCC_ELEMENT_MAX];
    struct http_str old;
    size_t n;
    char joined[2 * XFCC_ELEMENT_MAX];

    if (!mtls || mode == XFCC_SANITIZE) {
        http_msg_del(&s->req, XFCC, XFCC_LEN);
        return 0;
    }
    if (mode == XFCC_FORWARD_ONLY)
        return 0;
    /* By=: our certificate's URI SAN (Envoy's), left out when it has none */
    n = tls_xfcc_format(elem, sizeof(elem), tls->own.uri, &tls->peer);
    if (n >= sizeof(elem)) {
        http_msg_del(&s->req, XFCC, XFCC_LEN); /* never a truncated identity */
        return 0;
    }
    old = http_msg_get(&s->req, XFCC, XFCC_LEN);
    if (mode == XFCC_SANITIZE_SET || !old.p || !old.len ||
        http_msg_find(&s->req, XFCC, XFCC_LEN, (uint32_t)http_msg_find(&s->req, XFCC, XFCC_LEN, 0) + 1) >= 0) {
        /* set, or append to nothing; several fields cannot be appended to
         * faithfully: replaced */
        return http_msg_set(&s->req, XFCC, XFCC_LEN, elem, n, maxhdr);
    }
    /* append-forward: "<client's>,<ours>"; a chain too long to extend is
     * replaced by our element (never truncated) */
    if (old.len + 1 + n > sizeof(joined))
        return http_msg_set(&s->req, XFCC, XFCC_LEN, elem, n, maxhdr);
    memcpy(joined, old.p, old.len);
    joined[old.len] = ',';
    memcpy(joined + old.len + 1, elem, n);
    return http_msg_set(&s->req, XFCC, XFCC_LEN, joined, old.len + 1 + n, maxhdr);
}
