/*
 * Tests for proxy/codec/h1_chunked.c: accepted chunked bodies (extensions,
 * trailers, data that looks like framing), every rejected case with its exact
 * error, the limits, and the decoder's promise that input split anywhere, in
 * a buffer that moves between calls, decodes to the same payload, trailers
 * and verdict as input given whole.
 */
#include "tests/unit/proxy/codec/h1_test_util.h"

#define S(lit) lit, sizeof(lit) - 1

/* What a decode produced. */
struct out {
    int verdict;             /* 1: DONE, 0: needs more at the end of input, < 0: error */
    size_t end;              /* with DONE: bytes of input that made the body */
    char payload[4096];
    size_t plen;
    char trailers[2048];     /* "name=value|" per trailer */
    size_t tlen;
    unsigned ntrailers;
    uint64_t total;
};

/*
 * Decodes in[0, n) fed in pieces of `piece` bytes (0: one piece) the way a
 * connection would: unconsumed bytes stay in a pending buffer that moves to a
 * new allocation before each read is appended to it.
 */
static void decode(const char *in, size_t n, size_t piece, const struct h1_limits *lim,
                   struct out *o)
{
    struct h1_chunked c;
    char *pend = NULL;
    size_t plen = 0, fed = 0, dropped = 0;

    memset(o, 0, sizeof(*o));
    h1_chunked_init(&c, lim);
    if (piece == 0)
        piece = n ? n : 1;
    while (fed < n) {
        size_t k = n - fed < piece ? n - fed : piece;
        char *nb = malloc(plen + k + 1);
        assert_non_null(nb);
        if (plen)
            memcpy(nb, pend, plen);
        memcpy(nb + plen, in + fed, k);
        free(pend);
        pend = nb;
        plen += k;
        fed += k;
        for (;;) {
            struct h1_chunk_event ev;
            ssize_t r = h1_chunked_parse(&c, pend, plen, &ev);
            if (r < 0) {
                o->verdict = (int)r;
                /* a failed decoder keeps failing */
                assert_int_equal(h1_chunked_parse(&c, pend, plen, &ev), r);
                free(pend);
                return;
            }
            assert_true((size_t)r <= plen);
            if (ev.type == H1_CHUNK_DATA) {
                assert_true(ev.data_len > 0);
                assert_true(ev.data_off + ev.data_len == (size_t)r);
                assert_true(o->plen + ev.data_len <= sizeof(o->payload));
                memcpy(o->payload + o->plen, pend + ev.data_off, ev.data_len);
                o->plen += ev.data_len;
            } else if (ev.type == H1_CHUNK_TRAILER) {
                const char *line = pend + ev.data_off;
                assert_true(ev.data_off + ev.data_len == (size_t)r);
                assert_memory_equal(line + ev.data_len - 2, "\r\n", 2);
                o->tlen += (size_t)snprintf(o->trailers + o->tlen, sizeof(o->trailers) - o->tlen,
                                            "%s=%s|", h1t_str(line, ev.trailer.name),
                                            h1t_str(line, ev.trailer.value));
                o->ntrailers++;
            }
            dropped += (size_t)r;
            memmove(pend, pend + r, plen - (size_t)r);
            plen -= (size_t)r;
            if (ev.type == H1_CHUNK_DONE) {
                o->verdict = 1;
                o->end = dropped;
                o->total = c.total;
                assert_true(h1_chunked_done(&c));
                /* done stays done and reads nothing more */
                assert_int_equal(h1_chunked_parse(&c, pend, plen, &ev), 0);
                assert_int_equal(ev.type, H1_CHUNK_DONE);
                free(pend);
                return;
            }
            if (ev.type == H1_CHUNK_NEED_MORE)
                break;
        }
    }
    o->verdict = 0;
    o->total = c.total;
    free(pend);
}

static void same(const struct out *a, const struct out *b, const char *what, size_t k)
{
    if (a->verdict != b->verdict || a->end != b->end || a->plen != b->plen ||
        memcmp(a->payload, b->payload, a->plen) != 0 || a->tlen != b->tlen ||
        memcmp(a->trailers, b->trailers, a->tlen) != 0 || a->ntrailers != b->ntrailers)
        fail_msg("%s %zu: decode differs (verdict %d vs %d)", what, k, b->verdict, a->verdict);
}

/*
 * Decodes whole, then in pieces of every size, then split in two at every
 * point (the second half in one piece); all must agree. Returns the first.
 */
static void decode_all_ways(const char *in, size_t n, const struct h1_limits *lim, struct out *o)
{
    static struct out o2;

    decode(in, n, 0, lim, o);
    for (size_t piece = 1; piece < n; piece++) {
        decode(in, n, piece, lim, &o2);
        same(o, &o2, "piece size", piece);
    }
    /* two parts: [0, k) then [k, n), decoded with a fresh decoder */
    for (size_t k = 1; k < n; k++) {
        struct h1_chunked c;
        struct out *p = &o2;
        char *buf = malloc(n + 1);
        size_t have = 0, fed = 0, dropped = 0;
        memset(p, 0, sizeof(*p));
        h1_chunked_init(&c, lim);
        assert_non_null(buf);
        for (int part = 0; part < 2 && p->verdict == 0; part++) {
            size_t add = part == 0 ? k : n - k;
            memcpy(buf + have, in + fed, add);
            have += add;
            fed += add;
            for (;;) {
                struct h1_chunk_event ev;
                ssize_t r = h1_chunked_parse(&c, buf, have, &ev);
                if (r < 0) {
                    p->verdict = (int)r;
                    break;
                }
                if (ev.type == H1_CHUNK_DATA) {
                    memcpy(p->payload + p->plen, buf + ev.data_off, ev.data_len);
                    p->plen += ev.data_len;
                } else if (ev.type == H1_CHUNK_TRAILER) {
                    const char *line = buf + ev.data_off;
                    p->tlen += (size_t)snprintf(p->trailers + p->tlen, sizeof(p->trailers) - p->tlen,
                                                "%s=%s|", h1t_str(line, ev.trailer.name),
                                                h1t_str(line, ev.trailer.value));
                    p->ntrailers++;
                }
                dropped += (size_t)r;
                memmove(buf, buf + r, have - (size_t)r);
                have -= (size_t)r;
                if (ev.type == H1_CHUNK_DONE) {
                    p->verdict = 1;
                    p->end = dropped;
                    break;
                }
                if (ev.type == H1_CHUNK_NEED_MORE)
                    break;
            }
        }
        free(buf);
        same(o, p, "split at", k);
    }
}

static void test_simple(void **state)
{
    struct out o;
    decode_all_ways(S("5\r\nhello\r\n0\r\n\r\n"), NULL, &o);
    assert_int_equal(o.verdict, 1);
    assert_int_equal(o.end, 15);
    assert_int_equal(o.plen, 5);
    assert_memory_equal(o.payload, "hello", 5);
    assert_int_equal(o.total, 5);
    assert_int_equal(o.ntrailers, 0);

    decode_all_ways(S("0\r\n\r\n"), NULL, &o);
    assert_int_equal(o.verdict, 1);
    assert_int_equal(o.plen, 0);
}

static void test_chunks_and_next_message(void **state)
{
    static const char in[] = "000A\r\n0123456789\r\n1\r\nX\r\nf\r\nabcdefghijklmno\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    struct out o;
    decode_all_ways(S(in), NULL, &o);
    assert_int_equal(o.verdict, 1);
    assert_int_equal(o.end, sizeof(in) - 1 - 16);
    assert_int_equal(o.plen, 26);
    assert_memory_equal(o.payload, "0123456789Xabcdefghijklmno", 26);
}

static void test_data_that_looks_like_framing(void **state)
{
    /* chunk data is opaque: CRLFs and a fake last-chunk inside it are payload */
    static const char in[] = "a\r\n0\r\n\r\n0\r\n\r\n\r\n4\r\n\r\n\r\n\r\n0\r\n\r\n";
    struct out o;
    decode_all_ways(S(in), NULL, &o);
    assert_int_equal(o.verdict, 1);
    assert_int_equal(o.end, sizeof(in) - 1);
    assert_int_equal(o.plen, 14);
    assert_memory_equal(o.payload, "0\r\n\r\n0\r\n\r\n\r\n\r\n", 14);
}

static void test_extensions(void **state)
{
    static const char in[] = "3;name;n2=tok;n3=\"quoted \\\"str\\\" \\\\ \t ok\xff\";n4=\"\";N5=!#$%&'*+-.^_`|~\r\n"
                             "abc\r\n0;last=1\r\n\r\n";
    struct out o;
    decode_all_ways(S(in), NULL, &o);
    assert_int_equal(o.verdict, 1);
    assert_int_equal(o.plen, 3);
    assert_memory_equal(o.payload, "abc", 3);
}

static void test_trailers(void **state)
{
    static const char in[] = "2\r\nhi\r\n0\r\nX-Sum:  abc \r\nx-empty:\r\nX-Obs: caf\xc3\xa9\r\n"
                             "Grpc-Status: 0\r\n\r\nNEXT";
    struct out o;
    decode_all_ways(S(in), NULL, &o);
    assert_int_equal(o.verdict, 1);
    assert_int_equal(o.end, sizeof(in) - 1 - 4);
    assert_int_equal(o.ntrailers, 4);
    assert_string_equal(o.trailers, "X-Sum=abc|x-empty=|X-Obs=caf\xc3\xa9|Grpc-Status=0|");
}

static void test_incomplete(void **state)
{
    struct out o;
    /* the body has not ended: missing final CRLF, missing last chunk, short data */
    decode_all_ways(S("5\r\nhello\r\n0\r\n"), NULL, &o);
    assert_int_equal(o.verdict, 0);
    decode_all_ways(S("5\r\nhello\r\n0\r\nX: y\r\n"), NULL, &o);
    assert_int_equal(o.verdict, 0);
    assert_int_equal(o.ntrailers, 1);
    decode_all_ways(S("5\r\nhello\r\n"), NULL, &o);
    assert_int_equal(o.verdict, 0);
    decode_all_ways(S("5\r\nhel"), NULL, &o);
    assert_int_equal(o.verdict, 0);
    assert_int_equal(o.plen, 3);
    decode_all_ways(S("5\r\nhello\r"), NULL, &o);
    assert_int_equal(o.verdict, 0);
}

static void test_max_chunk_size(void **state)
{
    struct h1_chunked c;
    struct h1_chunk_event ev;

    h1_chunked_init(&c, NULL);
    assert_int_equal(h1_chunked_parse(&c, S("7fffffffffffffff\r\nab"), &ev), 20);
    assert_int_equal(ev.type, H1_CHUNK_DATA);
    assert_int_equal(ev.data_off, 18);
    assert_int_equal(ev.data_len, 2);
    assert_int_equal(c.remaining, UINT64_C(0x7fffffffffffffff) - 2);
    assert_int_equal(c.total, 2);
    h1_chunked_init(&c, NULL);
    assert_int_equal(h1_chunked_parse(&c, S("07FFFFFFFFFFFFFFF\r\n"), &ev), 19);
    assert_int_equal(ev.type, H1_CHUNK_NEED_MORE);
}

static void test_consumed_partial_trailer(void **state)
{
    /* a partial trailer line is left unconsumed, and not rescanned from its start */
    struct h1_chunked c;
    struct h1_chunk_event ev;
    static const char in[] = "0\r\nX-Long: abcdefgh\r\n\r\n";

    h1_chunked_init(&c, NULL);
    assert_int_equal(h1_chunked_parse(&c, in, 10, &ev), 3);
    assert_int_equal(ev.type, H1_CHUNK_NEED_MORE);
    assert_int_equal(h1_chunked_parse(&c, in + 3, 7, &ev), 0);
    assert_int_equal(c.scan_pos, 7);
    assert_int_equal(h1_chunked_parse(&c, in + 3, 12, &ev), 0);
    assert_int_equal(c.scan_pos, 12);
    assert_int_equal(h1_chunked_parse(&c, in + 3, sizeof(in) - 4, &ev), 18);
    assert_int_equal(ev.type, H1_CHUNK_TRAILER);
    assert_int_equal(ev.data_off, 0);
    assert_int_equal(ev.data_len, 18);
    assert_string_equal(h1t_str(in + 3, ev.trailer.value), "abcdefgh");
    assert_int_equal(h1_chunked_parse(&c, in + 21, 2, &ev), 2);
    assert_int_equal(ev.type, H1_CHUNK_DONE);
}

struct cvec {
    const char *name;
    const char *in;
    size_t len;
    int err;
};
#define V(name, lit, err) {name, lit, sizeof(lit) - 1, err}

static const struct cvec bad[] = {
    /* chunk size */
    V("0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_SIZE),
    V("trailing space", "5 \r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_SIZE),
    V("trailing tab", "5\t\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_SIZE),
    V("leading space", " 5\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_SIZE),
    V("space before ext", "5 ;a=b\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_SIZE),
    V("negative", "-1\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_SIZE),
    V("plus sign", "+5\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_SIZE),
    V("empty size", "\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_SIZE),
    V("extension without size", ";a\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_SIZE),
    V("not hex", "g\r\n", H1_ERR_CHUNK_SIZE),
    V("hex then junk", "5g\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_SIZE),
    V("NUL after size", "5\0\r\nhello\r\n", H1_ERR_CHUNK_SIZE),
    V("size 2^63", "8000000000000000\r\n", H1_ERR_CHUNK_SIZE),
    V("size 2^64", "10000000000000000\r\n", H1_ERR_CHUNK_SIZE),
    V("size 2^64-1", "ffffffffffffffff\r\n", H1_ERR_CHUNK_SIZE),
    V("size 2^65-1 (wraps)", "1ffffffffffffffff\r\n", H1_ERR_CHUNK_SIZE),
    V("size 2^64+5 (wraps to 5)", "10000000000000005\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_SIZE),
    /* extensions */
    V("space after ;", "5; a=b\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_EXT),
    V("space in name", "5;a b\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_EXT),
    V("space before =", "5;a =b\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_EXT),
    V("space after =", "5;a= b\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_EXT),
    V("empty name", "5;=b\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_EXT),
    V("empty value", "5;a=\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_EXT),
    V("two values", "5;a=b=c\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_EXT),
    V("space in value", "5;a=b c\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_EXT),
    V("CTL in value", "5;a=\x01\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_EXT),
    V("CTL in name", "5;a\x01\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_EXT),
    V("obs-text in name", "5;a\x80\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_EXT),
    V("lone ;", "5;\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_EXT),
    V("trailing ;", "5;a;\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_EXT),
    V("unterminated quote", "5;a=\"x\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_EXT),
    V("junk after quote", "5;a=\"x\"y\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_EXT),
    V("CTL in quote", "5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_EXT),
    V("bad quoted-pair", "5;a=\"\\\x01\"\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_EXT),
    V("quote in name", "5;\"a\"\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_EXT),
    /* line endings */
    V("bare LF after size", "5\nhello\r\n0\r\n\r\n", H1_ERR_BARE_LF),
    V("bare LF after ext", "5;a=b\nhello\r\n0\r\n\r\n", H1_ERR_BARE_LF),
    V("bare LF in quote", "5;a=\"\n\"\r\nhello\r\n0\r\n\r\n", H1_ERR_BARE_LF),
    V("bare CR after size", "5\rhello\r\n0\r\n\r\n", H1_ERR_BARE_CR),
    V("bare LF last chunk", "0\n\r\n", H1_ERR_BARE_LF),
    /* the CRLF after data */
    V("no CRLF after data", "5\r\nhelloX\r\n0\r\n\r\n", H1_ERR_CHUNK_CRLF),
    V("LF only after data", "5\r\nhello\n0\r\n\r\n", H1_ERR_CHUNK_CRLF),
    V("CR only after data", "5\r\nhello\r0\r\n\r\n", H1_ERR_CHUNK_CRLF),
    V("more data than size", "5\r\nhello world\r\n0\r\n\r\n", H1_ERR_CHUNK_CRLF),
    V("less data than size", "3\r\nhello\r\n0\r\n\r\n", H1_ERR_CHUNK_CRLF),
    /* trailers */
    V("bare LF ending body", "0\r\n\n", H1_ERR_BARE_LF),
    V("bare CR ending body", "0\r\n\rX", H1_ERR_BARE_CR),
    V("bare LF after trailer", "0\r\nX: a\n\r\n", H1_ERR_BARE_LF),
    V("obs-fold first trailer", "0\r\n X: a\r\n\r\n", H1_ERR_OBS_FOLD),
    V("obs-fold trailer", "0\r\nX: a\r\n b\r\n\r\n", H1_ERR_OBS_FOLD),
    V("space before colon", "0\r\nX : a\r\n\r\n", H1_ERR_HEADER_SPACE),
    V("empty trailer name", "0\r\n: a\r\n\r\n", H1_ERR_HEADER_NAME),
    V("trailer without colon", "0\r\nX\r\n\r\n", H1_ERR_HEADER_NAME),
    V("NUL in trailer", "0\r\nX: a\0\r\n\r\n", H1_ERR_HEADER_VALUE),
    V("VT in trailer", "0\r\nX: \x0b\r\n\r\n", H1_ERR_HEADER_VALUE),
    V("Content-Length trailer", "0\r\nContent-Length: 5\r\n\r\n", H1_ERR_TRAILER_FORBIDDEN),
    V("Transfer-Encoding trailer", "0\r\ntransfer-encoding: chunked\r\n\r\n", H1_ERR_TRAILER_FORBIDDEN),
    V("Host trailer", "0\r\nHost: evil\r\n\r\n", H1_ERR_TRAILER_FORBIDDEN),
};

static void test_bad(void **state)
{
    struct out o;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        decode_all_ways(bad[i].in, bad[i].len, NULL, &o);
        if (o.verdict != bad[i].err)
            fail_msg("%s: got %d (%s), want %d (%s)", bad[i].name, o.verdict,
                     h1_err_name(o.verdict), bad[i].err, h1_err_name(bad[i].err));
    }
}

static void test_limits(void **state)
{
    struct h1_limits lim = {0};
    char in[4096];
    size_t n;
    struct out o;

    /* a chunk-size line of max_chunk_line bytes passes, one more does not */
    lim.max_chunk_line = 16;
    n = (size_t)sprintf(in, "1;abcdefghijklmn\r\nx\r\n0\r\n\r\n");
    decode_all_ways(in, n, &lim, &o);
    assert_int_equal(o.verdict, 1);
    n = (size_t)sprintf(in, "1;abcdefghijklmno\r\nx\r\n0\r\n\r\n");
    decode_all_ways(in, n, &lim, &o);
    assert_int_equal(o.verdict, H1_ERR_CHUNK_LINE_TOO_LONG);
    /* leading zeros count too */
    n = (size_t)sprintf(in, "00000000000000001\r\nx\r\n0\r\n\r\n");
    decode_all_ways(in, n, &lim, &o);
    assert_int_equal(o.verdict, H1_ERR_CHUNK_LINE_TOO_LONG);
    /* the default: 1024 */
    memset(in, '0', 1025);
    memcpy(in + 1024, "\r\n\r\n", 4);
    decode(in, 1028, 0, NULL, &o);
    assert_int_equal(o.verdict, 1);
    memcpy(in + 1024, "0\r\n\r\n", 5);
    decode(in, 1029, 0, NULL, &o);
    assert_int_equal(o.verdict, H1_ERR_CHUNK_LINE_TOO_LONG);

    /* trailer count */
    lim = (struct h1_limits){.max_trailers = 2};
    decode_all_ways(S("0\r\nA: 1\r\nB: 2\r\n\r\n"), &lim, &o);
    assert_int_equal(o.verdict, 1);
    decode_all_ways(S("0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), &lim, &o);
    assert_int_equal(o.verdict, H1_ERR_TRAILERS_TOO_LARGE);
    /* trailer section size, final CRLF included */
    lim = (struct h1_limits){.max_trailer_size = 16};
    decode_all_ways(S("0\r\nA: 123456789\r\n\r\n"), &lim, &o);
    assert_int_equal(o.verdict, 1);
    decode_all_ways(S("0\r\nA: 1234567890\r\n\r\n"), &lim, &o);
    assert_int_equal(o.verdict, H1_ERR_TRAILERS_TOO_LARGE);
    decode_all_ways(S("0\r\nA: 1234567890123456789\r\n\r\n"), &lim, &o);
    assert_int_equal(o.verdict, H1_ERR_TRAILERS_TOO_LARGE);
}

static void test_big_body_zero_copy(void **state)
{
    /* 1 MiB in 3 chunks: the payload is reported in place, never copied */
    size_t sz = 1 << 20, n = 0;
    char *in = malloc(sz + 64);
    struct h1_chunked c;
    struct h1_chunk_event ev;
    size_t off = 0, got = 0;

    assert_non_null(in);
    n += (size_t)sprintf(in + n, "%zx\r\n", sz - 2);
    memset(in + n, 'a', sz - 2);
    n += sz - 2;
    n += (size_t)sprintf(in + n, "\r\n1\r\nb\r\n1;x=y\r\nc\r\n0\r\n\r\n");
    h1_chunked_init(&c, NULL);
    for (;;) {
        ssize_t r = h1_chunked_parse(&c, in + off, n - off, &ev);
        assert_true(r >= 0);
        if (ev.type == H1_CHUNK_DATA) {
            /* a pointer into the input, nothing else */
            assert_true(in + off + ev.data_off >= in && in + off + ev.data_off + ev.data_len <= in + n);
            got += ev.data_len;
        }
        off += (size_t)r;
        if (ev.type == H1_CHUNK_DONE)
            break;
        assert_true(ev.type != H1_CHUNK_NEED_MORE);
    }
    assert_int_equal(off, n);
    assert_int_equal(got, sz);
    assert_int_equal(c.total, sz);
    free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple),
        cmocka_unit_test(test_chunks_and_next_message),
        cmocka_unit_test(test_data_that_looks_like_framing),
        cmocka_unit_test(test_extensions),
        cmocka_unit_test(test_trailers),
        cmocka_unit_test(test_incomplete),
        cmocka_unit_test(test_max_chunk_size),
        cmocka_unit_test(test_consumed_partial_trailer),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_big_body_zero_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
