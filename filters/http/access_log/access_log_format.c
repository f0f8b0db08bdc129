/*
 * access_log_format.c: a struct filter_stream_info -> one log record (syslog
 * header + httplog or JSON line). Pure functions over bounded buffers: no
 * allocation, no syscall (localtime_r once a second through the callers'
 * caches).
 *
 * httplog is the core's own line (proxy/http/stream.c, stream_log), field for
 * field and byte for byte, from the same info: HAProxy's option httplog
 * fields plus ` reason=`. JSON carries the same facts under the names of
 * HAProxy's documentation, plus a few request fields a client controls (host,
 * user agent, request id): every string is escaped (alog_json_escape), and the
 * strings a client controls come last so they can be cut to fit `len`
 * without breaking the object.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "filters/http/access_log/access_log.h"

/* ---- a bounded writer ------------------------------------------------------ */

struct wr {
    char *p;
    size_t len, cap;
    bool over; /* something did not fit (and was cut) */
};

static void wr_mem(struct wr *w, const void *s, size_t n)
{
    if (n > w->cap - w->len) {
        n = w->cap - w->len;
        w->over = true;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
}

static void wr_str(struct wr *w, const char *s)
{
    wr_mem(w, s, strlen(s));
}

static void wr_fmt(struct wr *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Short things only (numbers, dates): 128 bytes at most. */
static void wr_fmt(struct wr *w, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(tmp))
        n = sizeof(tmp) - 1;
    wr_mem(w, tmp, (size_t)n);
}

/* ---- time --------------------------------------------------------------------- */

static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static const struct tm *tm_of(struct alog_tm *c, time_t sec)
{
    if (c->sec != sec || c->tm.tm_mday == 0) {
        localtime_r(&sec, &c->tm);
        c->gmtoff = c->tm.tm_gmtoff;
        c->sec = sec;
    }
    return &c->tm;
}

/* ISO 8601 / RFC 3339 with milliseconds and the local offset:
 * 2026-11-29T16:43:22.868+01:00 */
static void wr_iso_time(struct wr *w, struct alog_tm *c, uint64_t us)
{
    const struct tm *tm = tm_of(c, (time_t)(us / 1000000u));
    long off = c->gmtoff;
    char sign = off < 0 ? '-' : '+';

    if (off < 0)
        off = -off;
    wr_fmt(w, "%04d-%02d-%02dT%02d:%02d:%02d.%03u%c%02ld:%02ld", tm->tm_year + 1900,
           tm->tm_mon + 1, tm->tm_mday, tm->tm_hour, tm->tm_min, tm->tm_sec,
           (unsigned)(us / 1000u % 1000u), sign, off / 3600, off / 60 % 60);
}

/* ---- httplog ------------------------------------------------------------------- */

/* "1.2.3.4:5678", "[::1]:5678", or "-" (the core's tern_format_addr). */
static void wr_addr(struct wr *w, const struct sockaddr *sa)
{
    char ip[INET6_ADDRSTRLEN];

    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        wr_fmt(w, "%s:%u", ip, ntohs(a->sin_port));
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        wr_fmt(w, "[%s]:%u", ip, ntohs(a->sin6_port));
    } else {
        wr_str(w, "-");
    }
}

/* The logged target: path[?query] (the authority of a CONNECT), at most
 * ALOG_URI_MAX bytes in all, as the core's line. */
static void uri_parts(const struct http_msg *r, struct http_str *path, struct http_str *query)
{
    *path = r->path.p ? r->path : r->authority;
    if (!path->p)
        path->len = 0;
    if (path->len > ALOG_URI_MAX)
        path->len = ALOG_URI_MAX;
    *query = r->query;
    if (!query->p)
        query->len = 0;
    if (query->len > ALOG_URI_MAX - path->len)
        query->len = ALOG_URI_MAX - path->len;
}

size_t alog_format_httplog(const struct filter_stream_info *i, struct alog_tm *tm_start,
                           char *out, size_t cap)
{
    struct wr w = {out, 0, cap, false};
    const struct tm *tm = tm_of(tm_start, (time_t)(i->start_us / 1000000u));

    wr_addr(&w, i->client);
    wr_fmt(&w, " [%02d/%s/%04d:%02d:%02d:%02d.%03u] ", tm->tm_mday, months[tm->tm_mon % 12],
           tm->tm_year + 1900, tm->tm_hour, tm->tm_min, tm->tm_sec,
           (unsigned)(i->start_us / 1000u % 1000u));
    wr_str(&w, i->listener ? i->listener : "-");
    wr_str(&w, " ");
    wr_str(&w, i->cluster ? i->cluster : "<NOSRV>");
    wr_str(&w, "/");
    wr_str(&w, i->endpoint ? i->endpoint : "<NOSRV>");
    wr_fmt(&w, " %lld/%lld/%lld/%lld/%lld %d %llu - - ", (long long)i->t_request,
           (long long)i->t_queue, (long long)i->t_connect, (long long)i->t_response,
           (long long)i->t_active, i->status ? (int)i->status : -1,
           (unsigned long long)i->bytes_out);
    wr_str(&w, i->termination);
    wr_fmt(&w, " %llu/%u/%llu/%u/%u %u/%u \"", (unsigned long long)i->actconn, i->feconn,
           (unsigned long long)i->beconn, i->srv_conn, i->retries, i->srv_queue,
           i->backend_queue);
    if (i->request) {
        const struct http_msg *r = i->request;
        struct http_str path, query;
        uri_parts(r, &path, &query);
        wr_mem(&w, r->method_str.p, r->method_str.len > 32 ? 32 : r->method_str.len);
        wr_str(&w, " ");
        wr_mem(&w, path.p, path.len);
        if (r->query.p) {
            wr_str(&w, "?");
            wr_mem(&w, query.p, query.len);
        }
        wr_str(&w, r->version == 10 ? " HTTP/1.0" : " HTTP/1.1");
    } else {
        wr_str(&w, "<BADREQ>");
    }
    wr_str(&w, "\" reason=");
    wr_str(&w, i->reason_name ? i->reason_name : tern_reason_name(i->reason));
    return w.len;
}

/* ---- JSON ------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid:
 * no overlong form, no surrogate, nothing above U+10FFFF (RFC 3629). */
static size_t utf8_len(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;

    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1F;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0F;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[k] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

size_t alog_json_escape(const char *str, size_t n, char *out, size_t cap, size_t *consumed)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, o = 0;

    while (i < n) {
        unsigned char c = s[i];
        char esc[6];
        const char *piece = esc;
        size_t plen, in = 1;
        uint32_t cp;

        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
            /* the common case: a run of plain bytes */
            size_t j = i;
            while (j < n && s[j] >= 0x20 && s[j] < 0x7F && s[j] != '"' && s[j] != '\\' &&
                   o + (j - i) < cap)
                j++;
            memcpy(out + o, s + i, j - i);
            o += j - i;
            i = j;
            if (o == cap)
                break;
            continue;
        }
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            plen = 2;
        } else if (c < 0x20 || c == 0x7F) {
            const char *short_esc = NULL;
            switch (c) {
            case '\n': short_esc = "\\n"; break;
            case '\r': short_esc = "\\r"; break;
            case '\t': short_esc = "\\t"; break;
            case '\b': short_esc = "\\b"; break;
            case '\f': short_esc = "\\f"; break;
            default: break;
            }
            if (short_esc) {
                piece = short_esc;
                plen = 2;
            } else {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                plen = 6;
            }
        } else if ((in = utf8_len(s + i, n - i, &cp)) != 0) {
            if (cp == 0x2028 || cp == 0x2029) {
                /* valid JSON, but not valid JavaScript string content */
                piece = cp == 0x2028 ? "\\u2028" : "\\u2029";
                plen = 6;
            } else {
                piece = (const char *)s + i;
                plen = in;
            }
        } else {
            in = 1;
            piece = "\\ufffd"; /* one per byte of an invalid sequence */
            plen = 6;
        }
        if (plen > cap - o)
            break;
        memcpy(out + o, piece, plen);
        o += plen;
        i += in;
    }
    if (consumed)
        *consumed = i;
    return o;
}

/* A whole JSON string value: "..." (the writer's `over` flags a cut). */
static void wr_json_str(struct wr *w, const char *s, size_t n)
{
    size_t used;

    if (w->cap - w->len < 2) {
        w->over = true;
        return;
    }
    w->p[w->len++] = '"';
    w->len += alog_json_escape(s, n, w->p + w->len, w->cap - w->len - 1, &used);
    if (used < n)
        w->over = true;
    w->p[w->len++] = '"';
}

static void wr_json_cstr(struct wr *w, const char *s)
{
    if (s)
        wr_json_str(w, s, strlen(s));
    else
        wr_str(w, "null");
}

/*
 * A string a client controls, cut to leave `reserve` bytes for what follows
 * (fields after it and the closing brace). Sets *cut when it was shortened.
 */
static void wr_json_tail(struct wr *w, const char *key, const char *s, size_t n, size_t reserve,
                         bool *cut)
{
    size_t room, used;

    wr_str(w, key);
    if (!s) {
        wr_str(w, "null");
        return;
    }
    room = w->cap - w->len;
    if (room < reserve + 2) {
        w->over = true;
        return;
    }
    room -= reserve + 2;
    w->p[w->len++] = '"';
    w->len += alog_json_escape(s, n, w->p + w->len, room, &used);
    w->p[w->len++] = '"';
    if (used < n)
        *cut = true;
}

static struct http_str hdr(const struct http_msg *r, const char *name)
{
    struct http_str v = {NULL, 0};

    if (r)
        v = http_msg_get(r, name, strlen(name));
    if (v.p && v.len > ALOG_HDR_MAX)
        v.len = ALOG_HDR_MAX;
    return v;
}

/* The tail fields, in order, and the least room each takes ("key":null or
 * "key":""), so every cut string leaves room for the ones after it. */
#define K_URI ",\"uri\":"
#define K_HOST ",\"host\":"
#define K_UA ",\"user_agent\":"
#define K_RID ",\"request_id\":"
#define K_TRUNC ",\"truncated\":true"
#define MIN_FIELD(k) (sizeof(k) - 1 + 4)

size_t alog_format_json(const struct filter_stream_info *i, struct alog_tm *tm_start, char *out,
                        size_t cap)
{
    struct wr w = {out, 0, cap, false};
    const struct http_msg *r = i->request;
    char ip[INET6_ADDRSTRLEN] = "";
    unsigned port = 0;
    bool cut = false;
    size_t end_reserve = sizeof(K_TRUNC) - 1 + 1; /* the marker and '}' */

    if (i->client && i->client->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)i->client;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        port = ntohs(a->sin_port);
    } else if (i->client && i->client->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)i->client;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
    }

    wr_str(&w, "{\"accept_date\":\"");
    wr_iso_time(&w, tm_start, i->start_us);
    wr_str(&w, "\",\"client_ip\":");
    wr_json_cstr(&w, ip[0] ? ip : NULL);
    wr_fmt(&w, ",\"client_port\":%u,\"frontend_name\":", port);
    wr_json_cstr(&w, i->listener);
    wr_str(&w, ",\"backend_name\":");
    wr_json_cstr(&w, i->cluster);
    wr_str(&w, ",\"server_name\":");
    wr_json_cstr(&w, i->endpoint);
    wr_fmt(&w, ",\"TR\":%lld,\"Tw\":%lld,\"Tc\":%lld,\"Tr\":%lld,\"Ta\":%lld",
           (long long)i->t_request, (long long)i->t_queue, (long long)i->t_connect,
           (long long)i->t_response, (long long)i->t_active);
    wr_fmt(&w, ",\"status_code\":%d,\"bytes_read\":%llu,\"bytes_uploaded\":%llu",
           i->status ? (int)i->status : -1, (unsigned long long)i->bytes_out,
           (unsigned long long)i->bytes_in);
    wr_str(&w, ",\"termination_state\":");
    wr_json_cstr(&w, i->termination);
    wr_fmt(&w, ",\"actconn\":%llu,\"feconn\":%u,\"beconn\":%llu,\"srv_conn\":%u",
           (unsigned long long)i->actconn, i->feconn, (unsigned long long)i->beconn,
           i->srv_conn);
    wr_fmt(&w, ",\"retries\":%u,\"srv_queue\":%u,\"backend_queue\":%u", i->retries,
           i->srv_queue, i->backend_queue);
    wr_str(&w, ",\"reason\":");
    wr_json_cstr(&w, i->reason_name ? i->reason_name : tern_reason_name(i->reason));
    wr_str(&w, ",\"method\":");
    if (r)
        wr_json_str(&w, r->method_str.p, r->method_str.len > 32 ? 32 : r->method_str.len);
    else
        wr_str(&w, "null");
    wr_str(&w, ",\"http_version\":");
    wr_str(&w, !r                 ? "null"
               : r->version == 10 ? "\"HTTP/1.0\""
               : r->version == 20 ? "\"HTTP/2.0\""
                                  : "\"HTTP/1.1\"");
    if (w.over)
        return 0; /* the fixed fields alone do not fit: no partial object */

    {
        size_t after_uri = MIN_FIELD(K_HOST) + MIN_FIELD(K_UA) + MIN_FIELD(K_RID) + end_reserve;
        struct http_str h;
        if (r) {
            /* path?query, joined: one string even when the query is cut */
            char uri[ALOG_URI_MAX + 1];
            struct http_str path, query;
            size_t n;
            uri_parts(r, &path, &query);
            memcpy(uri, path.p ? path.p : "", path.len);
            n = path.len;
            if (r->query.p) {
                if (n < ALOG_URI_MAX) {
                    uri[n++] = '?';
                    if (query.len > ALOG_URI_MAX - n)
                        query.len = (uint32_t)(ALOG_URI_MAX - n);
                    memcpy(uri + n, query.p, query.len);
                    n += query.len;
                }
            }
            wr_json_tail(&w, K_URI, uri, n, after_uri, &cut);
        } else {
            wr_json_tail(&w, K_URI, NULL, 0, after_uri, &cut);
        }
        h = hdr(r, "host");
        wr_json_tail(&w, K_HOST, h.p, h.len, MIN_FIELD(K_UA) + MIN_FIELD(K_RID) + end_reserve,
                     &cut);
        h = hdr(r, "user-agent");
        wr_json_tail(&w, K_UA, h.p, h.len, MIN_FIELD(K_RID) + end_reserve, &cut);
        h = hdr(r, "x-request-id");
        wr_json_tail(&w, K_RID, h.p, h.len, end_reserve, &cut);
    }
    if (cut)
        wr_str(&w, K_TRUNC);
    wr_str(&w, "}");
    return w.over ? 0 : w.len;
}

/* ---- syslog ----------------------------------------------------------------------- */

size_t alog_format_syslog_header(const struct access_log_config *c, uint64_t now_us,
                                 struct alog_tm *tm_now, char *out, size_t cap)
{
    struct wr w = {out, 0, cap, false};
    unsigned pri = (unsigned)c->facility * 8u + c->level;
    const struct tm *tm;

    switch (c->syslog) {
    case ALOG_SL_RAW:
        break;
    case ALOG_SL_PRIORITY:
        wr_fmt(&w, "<%u>", pri);
        break;
    case ALOG_SL_SHORT:
        wr_fmt(&w, "<%u>", (unsigned)c->level);
        break;
    case ALOG_SL_RFC3164:
    case ALOG_SL_LOCAL:
        /* RFC 3164 4.1.2: "Mmm dd hh:mm:ss", the day padded with a space */
        tm = tm_of(tm_now, (time_t)(now_us / 1000000u));
        wr_fmt(&w, "<%u>%s %2d %02d:%02d:%02d ", pri, months[tm->tm_mon % 12], tm->tm_mday,
               tm->tm_hour, tm->tm_min, tm->tm_sec);
        if (c->syslog == ALOG_SL_RFC3164) {
            wr_str(&w, c->host);
            wr_str(&w, " ");
        }
        wr_fmt(&w, "%s[%u]: ", c->tag, c->pid);
        break;
    case ALOG_SL_RFC5424:
        /* <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG */
        wr_fmt(&w, "<%u>1 ", pri);
        wr_iso_time(&w, tm_now, now_us);
        wr_fmt(&w, " %s %s %u - - ", c->host, c->tag, c->pid);
        break;
    }
    return w.len;
}

size_t alog_format_record(const struct access_log_config *c,
                          const struct filter_stream_info *info, uint64_t now_us,
                          struct alog_tm *tm_start, struct alog_tm *tm_now, char *out,
                          size_t cap)
{
    size_t n, m;

    if (cap > c->len)
        cap = c->len;
    n = alog_format_syslog_header(c, now_us, tm_now, out, cap);
    if (c->format == ALOG_FMT_JSON) {
        m = alog_format_json(info, tm_start, out + n, cap - n);
        return m ? n + m : 0;
    }
    return n + alog_format_httplog(info, tm_start, out + n, cap - n);
}
