/*
 * libFuzzer target for the ClientHello parser (proxy/tls/clienthello.c).
 * Beyond "no crash, no out-of-bounds read" (ASan), it checks what callers
 * rely on: results are deterministic, a hello that parsed still parses from
 * exactly its own records, a shorter prefix of it never parses, and every
 * output string stays within its bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/tls/clienthello.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tls_hello h, again;
    enum tls_hello_result r = tls_hello_parse(data, size, 0, &h);

    check(r >= TLS_HELLO_OK && r <= TLS_HELLO_TOO_BIG);
    check(tls_hello_parse(data, size, 0, &again) == r);
    tls_hello_parse(data, size, 64, &again); /* a small bound on the same bytes */
    if (r != TLS_HELLO_OK)
        return 0;
    check(h.hs_type == 1);
    check(h.record_bytes > 0);
    check(!h.has_sni || (h.sni_len > 0 && strlen(h.sni) == h.sni_len));
    check(h.alpn_len <= TLS_HELLO_ALPN_MAX);
    check(h.n_versions <= TLS_HELLO_VERSIONS_MAX);
    {
        size_t pos = 0, n;
        const char *name;
        unsigned count = 0;
        while (tls_hello_next_alpn(&h, &pos, &name, &n)) {
            check(n > 0 && name + n <= (const char *)h.alpn + h.alpn_len);
            count++;
        }
        check(count == h.n_alpn);
    }
    if (h.record_bytes <= size) {
        check(tls_hello_parse(data, h.record_bytes, 0, &again) == TLS_HELLO_OK);
        check(again.sni_len == h.sni_len && memcmp(again.sni, h.sni, h.sni_len) == 0);
        check(again.alpn_len == h.alpn_len && memcmp(again.alpn, h.alpn, h.alpn_len) == 0);
    }
    if (size > 0)
        check(tls_hello_parse(data, size / 2, 0, &again) != TLS_HELLO_OK ||
              again.record_bytes <= size / 2 + 16384);
    return 0;
}
