/*
 * down_h1.c: the HTTP/1.1 client side of a stream (struct down_ops), for the
 * streams of h1_conn.c. What the stream core asks of its client that is
 * HTTP/1.1's own: the response head as HTTP/1.1 bytes in the connection's
 * output buffer (this hop's Connection field, keep-alive decided here), a
 * local reply the same way, the connection's fate when the stream ends
 * (keep-alive, or close after a reply, an unread body, an abort).
 *
 * The body bytes are not here: h1_conn.c writes them to the client straight
 * from the upstream buffer (client_write), never copied.
 *
 * Thread: the connection's worker.
 */
#include <string.h>

#include "proxy/core/util.h"
#include "proxy/http/http_h1.h"
#include "proxy/http/http_int.h"

static enum http_conn_mode conn_mode(const struct stream *s)
{
    enum http_conn_mode m = s->l->http_mode;
    if (s->up.c && s->up.c->http_mode > m)
        m = s->up.c->http_mode;
    return m;
}

/* Whether the client connection may carry another request after this one. */
static bool client_may_keep(const struct stream *s)
{
    const struct h1_conn *cc = s->cc;
    return !(s->req.flags & HTTP_MSG_F_CONN_CLOSE) && conn_mode(s) != HTTP_CONN_CLOSE &&
           !cc->draining && !cc->eof && !s->abort_client;
}

static void h1_run(struct stream *s)
{
    h1c_run(s->cc);
}

static void h1_kick(struct stream *s)
{
    h1c_kick(s->cc);
}

static bool h1_gone(const struct stream *s)
{
    return s->cc->closed;
}

static ssize_t h1_response_head(struct stream *s)
{
    struct h1_conn *cc = s->cc;
    struct http_h1_conn_opts o;
    struct buf *ob;
    ssize_t n;

    s->client_keep = client_may_keep(s) && s->resp_body != H1_BODY_UNTIL_CLOSE;
    /* RFC 9110 2.5: tern answers with its own version, 1.1, to 1.0 clients
     * too; those keep the connection only when told (RFC 9112 9.3). */
    o.version = 11;
    o.close = !s->client_keep;
    o.keep_alive = s->client_keep && s->req.version == 10;
    o.upgrade = (struct http_str){NULL, 0};
    if (s->tunnel)
        o.upgrade = http_msg_get(&s->resp, "upgrade", 7); /* checked: upstream_h1.c */
    if (!cc->obuf)
        cc->obuf = buf_get(&cc->w->pool);
    ob = cc->obuf;
    n = http_h1_write_response(&s->resp, buf_tail(ob), buf_tail_room(ob), &o);
    if (n < 0) {
        if (ob->len == 0) {
            buf_put(&cc->w->pool, ob);
            cc->obuf = NULL;
        }
        return -1;
    }
    ob->len += (uint32_t)n;
    return n;
}

static ssize_t h1_reply(struct stream *s, struct http_local_reply *r)
{
    struct h1_conn *cc = s->cc;
    struct buf *ob;
    ssize_t n;

    /* The connection can carry the next request only if this one's body
     * has been read whole; its validated bytes still in the buffer go. */
    if (!s->head_ok || (s->req_body != H1_BODY_NONE && !s->req_done))
        r->close = true;
    if (!client_may_keep(s))
        r->close = true;
    if (s->head_consumed && s->req_done && s->req_fwd && cc->ibuf) {
        buf_consume(cc->ibuf, s->req_fwd);
        s->req_fwd = 0;
    }
    s->client_keep = !r->close;
    if (!cc->obuf)
        cc->obuf = buf_get(&cc->w->pool);
    ob = cc->obuf;
    n = http_local_reply_write(buf_tail(ob), buf_tail_room(ob), r);
    if (n < 0) {
        /* a filter's body or fields too large for a buffer: the standard
         * page */
        r->body = NULL;
        r->content_type = NULL;
        r->nhdrs = 0;
        r->file = NULL;
        n = http_local_reply_write(buf_tail(ob), buf_tail_room(ob), r);
    }
    if (n <= 0)
        return 0;
    ob->len += (uint32_t)n;
    return n;
}

static void h1_abort(struct stream *s, int reason)
{
    h1c_close(s->cc, reason);
}

static void h1_ended(struct stream *s, uint64_t now)
{
    struct h1_conn *cc = s->cc;

    /* a head answered locally before the router took it: drop its bytes
     * (the log still read them in place) */
    if (s->head_ok && !s->head_consumed && cc->ibuf) {
        buf_consume(cc->ibuf, s->h1.head_len);
        s->head_consumed = true;
    }
    if (!s->req_done)
        s->client_keep = false;
    if (!s->client_keep || s->abort_client)
        cc->closing = true;
    cc->s = NULL;
    cc->idle_since_ms = now;
}

const struct down_ops down_h1_ops = {
    .name = "h1",
    .run = h1_run,
    .kick = h1_kick,
    .gone = h1_gone,
    .response_head = h1_response_head,
    .reply = h1_reply,
    .abort = h1_abort,
    .ended = h1_ended,
};
