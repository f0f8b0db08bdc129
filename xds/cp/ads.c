/*
 * ads.c: one struct ads_stream per proxy connection.
 *
 * gRPC core runs each stream as independent batches, each with its own tag:
 *   t_accept  the call itself arrived (grpc_server_request_registered_call)
 *   t_meta    our initial metadata went out
 *   t_close   RECV_CLOSE_ON_SERVER: the client went away or was cancelled
 *   t_recv    one DiscoveryRequest (or end of stream) arrived
 *   t_send    one DiscoveryResponse was written
 *   t_status  our status went out (we finished the call)
 * `ops` counts the batches in flight; the stream is freed when it is
 * closing and the last one has completed, never inside gRPC.
 *
 * Per type the stream remembers what the proxy asked for (subscription) and,
 * per resource, what was sent, what was ACKed and the last NACK. The same
 * bookkeeping serves both variants: SotW compares a digest of the response
 * it would send with the last one sent; Delta compares each resource's
 * version with the version the proxy has.
 *
 * Make before break: types go out CDS, EDS, LDS, RDS, SDS, so what a route
 * starts using arrives first. A cluster (or its endpoints) that leaves the
 * snapshot may still be used by the routes and listeners the proxy holds:
 * it stays in the stream's `stale` set, and is offered as before, until the
 * proxy has ACKed (or NACKed) the listeners and routes of the new snapshot;
 * only then is it removed (xDS "eventual consistency considerations"; a
 * proxy that checks references would otherwise refuse the removal).
 */
#include "xds/cp/ads.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "envoy/service/discovery/v3/discovery.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "xds/cp/mesh.h"

typedef Envoy__Service__Discovery__V3__DiscoveryRequest DiscoveryRequest;
typedef Envoy__Service__Discovery__V3__DiscoveryResponse DiscoveryResponse;
typedef Envoy__Service__Discovery__V3__DeltaDiscoveryRequest DeltaRequest;
typedef Envoy__Service__Discovery__V3__DeltaDiscoveryResponse DeltaResponse;

#define ADS_MAX_NAMES      4096   /* subscribed names per type and stream */
#define ADS_ERROR_MAX      1024   /* bytes of a NACK's error_detail kept */

enum res_state { RES_NONE = 0, RES_PENDING, RES_ACKED, RES_NACKED };

static const char *const res_state_name[] = { "none", "pending", "acked", "nacked" };

struct res {
	char *name;
	char sent[17];      /* the version the proxy has, as far as we know */
	char acked[17];     /* the last version it ACKed */
	enum res_state state;
	int in_flight;      /* part of the outstanding response */
};

struct type_state {
	int subscribed;     /* the proxy asked for this type */
	int wildcard;
	char **names;       /* explicit subscription, sorted */
	unsigned n_names, cap_names;
	struct res *res;    /* sorted by name */
	unsigned n_res, cap_res;
	int sent_any;       /* a response of this type went out */
	char digest[17];    /* SotW: of the last response sent */
	char acked_version[17];
	char nonce[24];     /* of the outstanding response, "" if none */
	double sent_at;
	uint64_t pushes, acks, nacks;
	char *last_nack;    /* error_detail message of the last NACK */
	/* CDS, EDS: resources gone from the snapshot that the proxy has and
	 * may still use (owned copies, sorted by name) */
	struct cp_resource *stale;
	unsigned n_stale;
};

struct ads_stream {
	struct pump_tag t_accept, t_meta, t_close, t_recv, t_send, t_status;
	struct cp *cp;
	struct ads_stream *prev, *next;
	int delta;
	uint64_t id;
	int ops;            /* batches in flight */
	int accepted, closing, finished;
	int recv_busy;
	int send_busy;
	int awaiting;       /* type whose ACK we wait for, or -1 */

	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_byte_buffer *recv_buf;
	grpc_byte_buffer *send_buf;
	int cancelled;      /* from RECV_CLOSE_ON_SERVER */
	char peer[64];

	/* identity, set by the first request */
	int authed;
	char *node_id, *service, *token;
	struct arena arena;           /* node overrides */
	struct mesh_addr inbound, app, outbound;
	int has_inbound, has_app, has_outbound;
	int proxyless;                /* a gRPC client (tern.proxyless) */
	struct cp_snapshot *snap;
	double connected_at;

	struct type_state ts[CP_NTYPES];
};

static void stream_recv(struct ads_stream *st);
static void stream_pump(struct ads_stream *st);
static void stream_finish(struct ads_stream *st, grpc_status_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- small helpers ---- */

void json_str(struct evbuffer *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	evbuffer_add(out, "\"", 1);
	for (; *p; p++) {
		if (*p == '"' || *p == '\\')
			evbuffer_add_printf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			evbuffer_add_printf(out, "\\u%04x", *p);
		else
			evbuffer_add(out, p, 1);
	}
	evbuffer_add(out, "\"", 1);
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");

	if (!d)
		abort();
	return d;
}

static char *xstrndup(const char *s, size_t n)
{
	char *d = strndup(s, n);

	if (!d)
		abort();
	return d;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		abort();
	return p;
}

/* Printable copy of untrusted bytes for logs and JSON: at most max bytes,
 * control characters replaced. */
static char *printable(const char *s, size_t max)
{
	size_t n = strnlen(s ? s : "", max), i;
	char *d = xstrndup(s ? s : "", n);

	for (i = 0; i < n; i++)
		if ((unsigned char)d[i] < 0x20 || d[i] == 0x7f)
			d[i] = '?';
	return d;
}

/* ---- per-type bookkeeping ---- */

static int name_index(char **names, unsigned n, const char *name, unsigned *at)
{
	unsigned lo = 0, hi = n;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		int c = strcmp(name, names[mid]);

		if (c == 0) {
			*at = mid;
			return 1;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*at = lo;
	return 0;
}

static int sub_add(struct type_state *ts, const char *name)
{
	unsigned at;

	if (name_index(ts->names, ts->n_names, name, &at))
		return 0;
	if (ts->n_names >= ADS_MAX_NAMES)
		return -1;
	if (ts->n_names == ts->cap_names) {
		ts->cap_names = ts->cap_names ? ts->cap_names * 2 : 8;
		ts->names = xrealloc(ts->names, ts->cap_names * sizeof(char *));
	}
	memmove(&ts->names[at + 1], &ts->names[at], (ts->n_names - at) * sizeof(char *));
	ts->names[at] = xstrdup(name);
	ts->n_names++;
	return 1;
}

static void sub_del(struct type_state *ts, const char *name)
{
	unsigned at;

	if (!name_index(ts->names, ts->n_names, name, &at))
		return;
	free(ts->names[at]);
	memmove(&ts->names[at], &ts->names[at + 1], (ts->n_names - at - 1) * sizeof(char *));
	ts->n_names--;
}

static void sub_clear(struct type_state *ts)
{
	unsigned i;

	for (i = 0; i < ts->n_names; i++)
		free(ts->names[i]);
	ts->n_names = 0;
}

static struct res *res_find(struct type_state *ts, const char *name, int create)
{
	unsigned lo = 0, hi = ts->n_res;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		int c = strcmp(name, ts->res[mid].name);

		if (c == 0)
			return &ts->res[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (!create)
		return NULL;
	if (ts->n_res == ts->cap_res) {
		ts->cap_res = ts->cap_res ? ts->cap_res * 2 : 8;
		ts->res = xrealloc(ts->res, ts->cap_res * sizeof(struct res));
	}
	memmove(&ts->res[lo + 1], &ts->res[lo], (ts->n_res - lo) * sizeof(struct res));
	memset(&ts->res[lo], 0, sizeof(struct res));
	ts->res[lo].name = xstrdup(name);
	ts->n_res++;
	return &ts->res[lo];
}

static void res_del(struct type_state *ts, const char *name)
{
	struct res *r = res_find(ts, name, 0);
	unsigned at;

	if (!r)
		return;
	at = (unsigned)(r - ts->res);
	free(r->name);
	memmove(&ts->res[at], &ts->res[at + 1], (ts->n_res - at - 1) * sizeof(struct res));
	ts->n_res--;
}

static int interested(const struct type_state *ts, const char *name)
{
	unsigned at;

	return ts->wildcard || name_index(ts->names, ts->n_names, name, &at);
}

/* ---- stale resources (make before break) ---- */

static const struct cp_resource *stale_find(const struct type_state *ts, const char *name)
{
	unsigned i;

	for (i = 0; i < ts->n_stale; i++)
		if (strcmp(ts->stale[i].name, name) == 0)
			return &ts->stale[i];
	return NULL;
}

static void stale_clear(struct type_state *ts)
{
	unsigned i;

	for (i = 0; i < ts->n_stale; i++) {
		free((char *)ts->stale[i].name);
		free((uint8_t *)ts->stale[i].data);
	}
	free(ts->stale);
	ts->stale = NULL;
	ts->n_stale = 0;
}

static int stale_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cp_resource *)a)->name, ((const struct cp_resource *)b)->name);
}

/* The snapshot goes from old to new: the clusters and endpoints of old that
 * the proxy was sent and new lacks become stale; stale ones new has again
 * are dropped (new's are offered). */
static void stale_update(struct ads_stream *st, const struct cp_snapshot *old,
			 const struct cp_snapshot *new)
{
	static const enum cp_type kept[] = { CP_CDS, CP_EDS };
	unsigned k, i, j;

	for (k = 0; k < sizeof(kept) / sizeof(kept[0]); k++) {
		enum cp_type t = kept[k];
		struct type_state *ts = &st->ts[t];
		unsigned n0;

		for (i = j = 0; i < ts->n_stale; i++) {
			if (snapshot_find(new, t, ts->stale[i].name)) {
				free((char *)ts->stale[i].name);
				free((uint8_t *)ts->stale[i].data);
			} else {
				ts->stale[j++] = ts->stale[i];
			}
		}
		ts->n_stale = j;
		n0 = ts->n_stale;
		for (i = 0; i < ts->n_res; i++) {
			const struct cp_resource *r;
			struct cp_resource *c;

			if (!ts->res[i].sent[0] || snapshot_find(new, t, ts->res[i].name) ||
			    stale_find(ts, ts->res[i].name))
				continue;
			r = snapshot_find(old, t, ts->res[i].name);
			if (!r)
				continue;
			ts->stale = xrealloc(ts->stale, (ts->n_stale + 1) * sizeof(*ts->stale));
			c = &ts->stale[ts->n_stale++];
			*c = *r;
			c->name = xstrdup(r->name);
			c->data = xrealloc(NULL, r->len);
			memcpy((uint8_t *)c->data, r->data, r->len);
		}
		if (ts->n_stale != n0)
			qsort(ts->stale, ts->n_stale, sizeof(*ts->stale), stale_cmp);
	}
}

/* ---- lifetime ---- */

static void stream_free(struct ads_stream *st)
{
	struct cp *cp = st->cp;
	unsigned i;
	int t;

	if (st->prev)
		st->prev->next = st->next;
	else if (cp->streams == st)
		cp->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	if (st->accepted)
		cp->n_streams--;
	if (st->call)
		grpc_call_unref(st->call);
	grpc_metadata_array_destroy(&st->md);
	if (st->recv_buf)
		grpc_byte_buffer_destroy(st->recv_buf);
	if (st->send_buf)
		grpc_byte_buffer_destroy(st->send_buf);
	for (t = 0; t < CP_NTYPES; t++) {
		struct type_state *ts = &st->ts[t];

		sub_clear(ts);
		free(ts->names);
		for (i = 0; i < ts->n_res; i++)
			free(ts->res[i].name);
		free(ts->res);
		free(ts->last_nack);
		stale_clear(ts);
	}
	snapshot_unref(st->snap);
	arena_free(&st->arena);
	free(st->node_id);
	free(st->service);
	free(st->token);
	free(st);
}

/* Called after every completion: frees the stream once nothing is in flight
 * and it is closing. */
static void stream_settle(struct ads_stream *st)
{
	if (st->ops == 0 && (st->closing || st->cp->stopping))
		stream_free(st);
}

static int start_batch(struct ads_stream *st, const grpc_op *ops, size_t n, struct pump_tag *tag)
{
	grpc_call_error e;

	if (st->cp->stopping)
		return -1;
	e = grpc_call_start_batch(st->call, ops, n, tag, NULL);
	if (e != GRPC_CALL_OK) {
		cp_log("error", "ads stream %llu: grpc_call_start_batch: %s",
		       (unsigned long long)st->id, grpc_call_error_to_string(e));
		return -1;
	}
	st->ops++;
	return 0;
}

/* Ends the call with a status (refusals, bad input); the stream is freed
 * once its other batches have completed. */
static void stream_finish(struct ads_stream *st, grpc_status_code code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	grpc_op op;
	grpc_slice details;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (st->finished || st->closing)
		return;
	st->finished = 1;
	cp_log(code == GRPC_STATUS_OK ? "info" : "warning", "ads stream %llu (%s, node %s): %s",
	       (unsigned long long)st->id, st->peer, st->node_id ? st->node_id : "-", msg);
	details = grpc_slice_from_copied_string(msg);
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	op.data.send_status_from_server.status = code;
	op.data.send_status_from_server.status_details = &details;
	if (start_batch(st, &op, 1, &st->t_status) < 0) {
		st->closing = 1;
		grpc_call_cancel(st->call, NULL);
	}
	grpc_slice_unref(details);
}

static void on_status(struct pump_tag *tag, int ok)
{
	struct ads_stream *st = (struct ads_stream *)((char *)tag - offsetof(struct ads_stream, t_status));

	st->ops--;
	st->closing = 1;
	stream_settle(st);
}

static void on_meta(struct pump_tag *tag, int ok)
{
	struct ads_stream *st = (struct ads_stream *)((char *)tag - offsetof(struct ads_stream, t_meta));

	st->ops--;
	stream_settle(st);
}

static void on_close(struct pump_tag *tag, int ok)
{
	struct ads_stream *st = (struct ads_stream *)((char *)tag - offsetof(struct ads_stream, t_close));

	st->ops--;
	/* The call is over (client gone, cancelled, or we sent the status):
	 * make the other batches complete. */
	if (!st->closing) {
		st->closing = 1;
		if (!st->finished)
			cp_log("info", "ads stream %llu (node %s): closed by the proxy",
			       (unsigned long long)st->id, st->node_id ? st->node_id : "-");
		grpc_call_cancel(st->call, NULL);
	}
	stream_settle(st);
}

/* ---- responses ---- */

static void send_bytes(struct ads_stream *st, const uint8_t *buf, size_t len)
{
	grpc_slice s = grpc_slice_from_copied_buffer((const char *)buf, len);
	grpc_op op;

	st->send_buf = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_SEND_MESSAGE;
	op.data.send_message.send_message = st->send_buf;
	if (start_batch(st, &op, 1, &st->t_send) == 0)
		st->send_busy = 1;
	else {
		grpc_byte_buffer_destroy(st->send_buf);
		st->send_buf = NULL;
	}
}

static void on_send(struct pump_tag *tag, int ok)
{
	struct ads_stream *st = (struct ads_stream *)((char *)tag - offsetof(struct ads_stream, t_send));

	st->ops--;
	st->send_busy = 0;
	grpc_byte_buffer_destroy(st->send_buf);
	st->send_buf = NULL;
	if (ok)
		stream_pump(st);
	stream_settle(st);
}

static void new_nonce(struct cp *cp, struct type_state *ts)
{
	snprintf(ts->nonce, sizeof(ts->nonce), "%llu", (unsigned long long)++cp->next_nonce);
}

static Google__Protobuf__Any *res_any(Google__Protobuf__Any *a, enum cp_type t, const struct cp_resource *r)
{
	google__protobuf__any__init(a);
	a->type_url = (char *)cp_type_url[t];
	a->value.data = (uint8_t *)r->data;
	a->value.len = r->len;
	return a;
}

static void mark_sent(struct type_state *ts, const struct cp_resource *r)
{
	struct res *rs = res_find(ts, r->name, 1);

	memcpy(rs->sent, r->version, sizeof(rs->sent));
	rs->state = RES_PENDING;
	rs->in_flight = 1;
}

static void sent(struct ads_stream *st, enum cp_type t)
{
	struct type_state *ts = &st->ts[t];

	ts->sent_any = 1;
	ts->sent_at = cp_now();
	ts->pushes++;
	st->cp->stats.pushes[t]++;
	st->awaiting = (int)t;
}

static int sel_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct cp_resource *const *)a)->name,
		      (*(const struct cp_resource *const *)b)->name);
}

/* SotW: the resources a response of type t would carry and their digest
 * (the snapshot's and the stale ones, by name).
 * Returns how many (pointers into the snapshot in *out, caller frees). */
static unsigned sotw_select(struct ads_stream *st, enum cp_type t, const struct cp_resource ***out,
			    char digest[17])
{
	const struct cp_snapshot *s = st->snap;
	struct type_state *ts = &st->ts[t];
	const struct cp_resource **sel;
	unsigned n = 0, i;
	struct arena a;
	char *buf;
	size_t off = 0;

	sel = xrealloc(NULL, sizeof(*sel) * (s->n[t] + ts->n_stale + 1));
	for (i = 0; i < s->n[t]; i++)
		if (interested(ts, s->res[t][i].name))
			sel[n++] = &s->res[t][i];
	if (ts->n_stale) {
		for (i = 0; i < ts->n_stale; i++)
			if (interested(ts, ts->stale[i].name))
				sel[n++] = &ts->stale[i];
		qsort(sel, n, sizeof(*sel), sel_cmp);
	}
	arena_init(&a);
	buf = arena_alloc(&a, (size_t)n * (17 + 256) + 1);
	for (i = 0; i < n; i++) {
		size_t l = strnlen(sel[i]->name, 255);

		memcpy(buf + off, sel[i]->name, l);
		off += l;
		buf[off++] = '\0';
		memcpy(buf + off, sel[i]->version, 16);
		off += 16;
	}
	cp_hash_hex(buf, off, digest);
	arena_free(&a);
	*out = sel;
	return n;
}

static int sotw_push(struct ads_stream *st, enum cp_type t)
{
	struct type_state *ts = &st->ts[t];
	const struct cp_resource **sel;
	DiscoveryResponse resp = ENVOY__SERVICE__DISCOVERY__V3__DISCOVERY_RESPONSE__INIT;
	Envoy__Config__Core__V3__ControlPlane plane = ENVOY__CONFIG__CORE__V3__CONTROL_PLANE__INIT;
	Google__Protobuf__Any *anys, **ptrs;
	char digest[17];
	unsigned n, i;
	size_t len;
	uint8_t *buf;

	if (!ts->wildcard && ts->n_names == 0 && !cp_type_is_wildcard(t) && ts->sent_any)
		return 0;
	n = sotw_select(st, t, &sel, digest);
	if (ts->sent_any && strcmp(digest, ts->digest) == 0) {
		free(sel);
		return 0;
	}
	anys = xrealloc(NULL, sizeof(*anys) * (n + 1));
	ptrs = xrealloc(NULL, sizeof(*ptrs) * (n + 1));
	for (i = 0; i < ts->n_res; i++)
		ts->res[i].in_flight = 0;
	for (i = 0; i < n; i++) {
		ptrs[i] = res_any(&anys[i], t, sel[i]);
		mark_sent(ts, sel[i]);
	}
	memcpy(ts->digest, digest, sizeof(digest));
	new_nonce(st->cp, ts);
	plane.identifier = (char *)st->cp->identifier;
	resp.version_info = digest;
	resp.type_url = (char *)cp_type_url[t];
	resp.nonce = ts->nonce;
	resp.n_resources = n;
	resp.resources = ptrs;
	resp.control_plane = &plane;
	len = envoy__service__discovery__v3__discovery_response__get_packed_size(&resp);
	buf = xrealloc(NULL, len);
	envoy__service__discovery__v3__discovery_response__pack(&resp, buf);
	send_bytes(st, buf, len);
	free(buf);
	free(anys);
	free(ptrs);
	free(sel);
	sent(st, t);
	return 1;
}

static int delta_push(struct ads_stream *st, enum cp_type t)
{
	struct type_state *ts = &st->ts[t];
	const struct cp_snapshot *s = st->snap;
	DeltaResponse resp = ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_RESPONSE__INIT;
	Envoy__Config__Core__V3__ControlPlane plane = ENVOY__CONFIG__CORE__V3__CONTROL_PLANE__INIT;
	Envoy__Service__Discovery__V3__Resource *rs, **rptrs;
	Google__Protobuf__Any *anys;
	char **removed;
	unsigned n = 0, nrem = 0, i;
	size_t len;
	uint8_t *buf;

	rs = xrealloc(NULL, sizeof(*rs) * (s->n[t] + 1));
	rptrs = xrealloc(NULL, sizeof(*rptrs) * (s->n[t] + 1));
	anys = xrealloc(NULL, sizeof(*anys) * (s->n[t] + 1));
	removed = xrealloc(NULL, sizeof(*removed) * (ts->n_res + 1));
	for (i = 0; i < s->n[t]; i++) {
		const struct cp_resource *r = &s->res[t][i];
		struct res *have;

		if (!interested(ts, r->name))
			continue;
		have = res_find(ts, r->name, 0);
		if (have && strcmp(have->sent, r->version) == 0)
			continue;
		envoy__service__discovery__v3__resource__init(&rs[n]);
		rs[n].name = (char *)r->name;
		rs[n].version = (char *)r->version;
		rs[n].resource = res_any(&anys[n], t, r);
		rptrs[n] = &rs[n];
		n++;
	}
	/* what the proxy has (or was told about) that no longer exists, and
	 * nothing it may still use */
	for (i = 0; i < ts->n_res; i++)
		if (ts->res[i].sent[0] && !snapshot_find(s, t, ts->res[i].name) &&
		    !stale_find(ts, ts->res[i].name))
			removed[nrem++] = ts->res[i].name;
	if (n == 0 && nrem == 0 && ts->sent_any) {
		free(rs), free(rptrs), free(anys), free(removed);
		return 0;
	}
	for (i = 0; i < ts->n_res; i++)
		ts->res[i].in_flight = 0;
	for (i = 0; i < n; i++)
		mark_sent(ts, snapshot_find(s, t, rs[i].name));
	new_nonce(st->cp, ts);
	plane.identifier = (char *)st->cp->identifier;
	resp.system_version_info = (char *)s->type_version[t];
	resp.type_url = (char *)cp_type_url[t];
	resp.nonce = ts->nonce;
	resp.n_resources = n;
	resp.resources = rptrs;
	resp.n_removed_resources = nrem;
	resp.removed_resources = removed;
	resp.control_plane = &plane;
	len = envoy__service__discovery__v3__delta_discovery_response__get_packed_size(&resp);
	buf = xrealloc(NULL, len);
	envoy__service__discovery__v3__delta_discovery_response__pack(&resp, buf);
	send_bytes(st, buf, len);
	free(buf);
	/* removed names are forgotten once told; removed[] points into them */
	for (i = 0; i < nrem; i++) {
		char *name = xstrdup(removed[i]);

		res_del(ts, name);
		free(name);
	}
	free(rs), free(rptrs), free(anys), free(removed);
	sent(st, t);
	return 1;
}

/* Sends the next response the stream needs, if nothing is outstanding.
 * When every type is up to date (so the proxy has answered for the new
 * listeners and routes), the stale clusters and endpoints go. */
static void stream_pump(struct ads_stream *st)
{
	int t, pass;

	if (st->closing || st->finished || st->send_busy || st->awaiting >= 0 || !st->snap ||
	    !cp_sources_synced(st->cp))
		return;
	for (pass = 0; pass < 2; pass++) {
		for (t = 0; t < CP_NTYPES; t++) {
			if (!st->ts[t].subscribed)
				continue;
			if (st->delta ? delta_push(st, (enum cp_type)t) : sotw_push(st, (enum cp_type)t))
				return;
		}
		if (!st->ts[CP_CDS].n_stale && !st->ts[CP_EDS].n_stale)
			return;
		stale_clear(&st->ts[CP_CDS]);
		stale_clear(&st->ts[CP_EDS]);
	}
}

/* ---- requests ---- */

static const char *struct_string(const Google__Protobuf__Struct *s, const char *key)
{
	size_t i;

	if (!s)
		return NULL;
	for (i = 0; i < s->n_fields; i++) {
		const Google__Protobuf__Struct__FieldsEntry *e = s->fields[i];

		if (e->key && strcmp(e->key, key) == 0 && e->value &&
		    e->value->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE)
			return e->value->string_value;
	}
	return NULL;
}

static struct cp_snapshot *stream_snapshot(struct ads_stream *st, const struct mesh_service *svc)
{
	return cp_snapshot_for(st->cp, svc,
			       st->has_inbound ? &st->inbound : &svc->inbound,
			       st->has_app ? &st->app : &svc->app,
			       st->has_outbound ? &st->outbound : &svc->outbound, st->proxyless);
}

/* The first request: who is this proxy? 0, or -1 after finishing the call. */
static int authenticate(struct ads_stream *st, const Envoy__Config__Core__V3__Node *node)
{
	struct cp *cp = st->cp;
	const struct mesh_service *svc;
	const char *token, *v;
	static const char *const keys[3] = { "tern.inbound", "tern.app", "tern.outbound" };
	struct mesh_addr *dst[3] = { &st->inbound, &st->app, &st->outbound };
	int *has[3] = { &st->has_inbound, &st->has_app, &st->has_outbound };
	int i;

	if (!node || !node->id || !*node->id) {
		cp->stats.bad_requests++;
		stream_finish(st, GRPC_STATUS_INVALID_ARGUMENT, "the first request has no node.id");
		return -1;
	}
	st->node_id = printable(node->id, 128);
	token = struct_string(node->metadata, ADS_TOKEN_KEY);
	svc = token && cp->model ? mesh_find_by_token(cp->model, token) : NULL;
	if (!svc) {
		cp->stats.auth_failures++;
		stream_finish(st, GRPC_STATUS_UNAUTHENTICATED,
			      token ? "node.metadata \"%s\" matches no service of the mesh"
				    : "node.metadata has no \"%s\" (the service token)", ADS_TOKEN_KEY);
		return -1;
	}
	if (node->cluster && *node->cluster && strcmp(node->cluster, svc->name) != 0) {
		char *c = printable(node->cluster, 64);

		cp->stats.auth_failures++;
		stream_finish(st, GRPC_STATUS_PERMISSION_DENIED,
			      "node.cluster '%s' is not the service its token was issued for", c);
		free(c);
		return -1;
	}
	arena_init(&st->arena);
	for (i = 0; i < 3; i++) {
		v = struct_string(node->metadata, keys[i]);
		if (!v)
			continue;
		if (mesh_parse_addr(&st->arena, v, dst[i]) < 0) {
			char *p = printable(v, 64);

			cp->stats.bad_requests++;
			stream_finish(st, GRPC_STATUS_INVALID_ARGUMENT,
				      "node.metadata \"%s\": '%s' is not HOST:PORT", keys[i], p);
			free(p);
			return -1;
		}
		*has[i] = 1;
	}
	v = struct_string(node->metadata, "tern.proxyless");
	st->proxyless = v && strcmp(v, "true") == 0;
	st->service = xstrdup(svc->name);
	st->token = xstrdup(token);
	st->authed = 1;
	st->snap = stream_snapshot(st, svc);
	cp_log("info", "ads stream %llu (%s): node %s authenticated as service %s (%s%s)",
	       (unsigned long long)st->id, st->peer, st->node_id, svc->name, st->delta ? "delta" : "sotw",
	       st->proxyless ? ", proxyless gRPC" : "");
	return 0;
}

/* The proxy answered the outstanding response of type t: ACK or NACK. */
static void ack_or_nack(struct ads_stream *st, enum cp_type t, const Google__Rpc__Status *err,
			const char *version)
{
	struct type_state *ts = &st->ts[t];
	struct cp *cp = st->cp;
	unsigned i;
	double lat = cp_now() - ts->sent_at;

	ts->nonce[0] = '\0';
	if (st->awaiting == (int)t)
		st->awaiting = -1;
	if (err) {
		char *msg = printable(err->message ? err->message : "", ADS_ERROR_MAX);

		ts->nacks++;
		cp->stats.nacks[t]++;
		free(ts->last_nack);
		ts->last_nack = msg;
		for (i = 0; i < ts->n_res; i++)
			if (ts->res[i].in_flight) {
				ts->res[i].state = RES_NACKED;
				ts->res[i].in_flight = 0;
			}
		cp_log("warning", "ads stream %llu: node %s (service %s) NACKed %s: code %d: %s",
		       (unsigned long long)st->id, st->node_id, st->service, cp_type_short[t],
		       err->code, msg);
		return;
	}
	ts->acks++;
	cp->stats.acks[t]++;
	if (version)
		snprintf(ts->acked_version, sizeof(ts->acked_version), "%s", version);
	for (i = 0; i < ts->n_res; i++)
		if (ts->res[i].in_flight) {
			ts->res[i].state = RES_ACKED;
			memcpy(ts->res[i].acked, ts->res[i].sent, sizeof(ts->res[i].acked));
			ts->res[i].in_flight = 0;
		}
	cp->stats.lat_count++;
	cp->stats.lat_sum += lat;
	for (i = 0; i < CP_LAT_BUCKETS; i++)
		if (lat <= cp_lat_bounds[i])
			cp->stats.lat_bucket[i]++;
}

/* Returns the type, or -1 (counted; the request is ignored). */
static int request_type(struct ads_stream *st, const char *url)
{
	int t = cp_type_from_url(url ? url : "");

	if (t < 0) {
		char *u = printable(url, 200);

		st->cp->stats.unknown_types++;
		cp_log("warning", "ads stream %llu: node %s asked for type '%s', which tern-cp does not serve",
		       (unsigned long long)st->id, st->node_id ? st->node_id : "-", u);
		free(u);
	}
	return t;
}

static int handle_sotw(struct ads_stream *st, const uint8_t *data, size_t len)
{
	DiscoveryRequest *rq = envoy__service__discovery__v3__discovery_request__unpack(NULL, len, data);
	struct type_state *ts;
	size_t i;
	int t;

	if (!rq) {
		st->cp->stats.bad_requests++;
		stream_finish(st, GRPC_STATUS_INVALID_ARGUMENT, "a DiscoveryRequest that does not decode");
		return -1;
	}
	if (!st->authed && authenticate(st, rq->node) < 0)
		goto out_err;
	t = request_type(st, rq->type_url);
	if (t < 0)
		goto out;
	ts = &st->ts[t];
	if (rq->response_nonce && *rq->response_nonce) {
		if (strcmp(rq->response_nonce, ts->nonce) == 0)
			ack_or_nack(st, (enum cp_type)t, rq->error_detail, rq->version_info);
		else
			st->cp->stats.stale_nonces++;
	}
	if (rq->n_resource_names > ADS_MAX_NAMES) {
		st->cp->stats.bad_requests++;
		stream_finish(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "more than %d resource names", ADS_MAX_NAMES);
		goto out_err;
	}
	/* SotW: every request restates the whole subscription */
	sub_clear(ts);
	ts->wildcard = cp_type_is_wildcard((enum cp_type)t) && rq->n_resource_names == 0;
	for (i = 0; i < rq->n_resource_names; i++) {
		if (strcmp(rq->resource_names[i], "*") == 0)
			ts->wildcard = 1;
		else
			sub_add(ts, rq->resource_names[i]);
	}
	/* forget resources the proxy no longer asks for */
	for (i = ts->n_res; i-- > 0;)
		if (!interested(ts, ts->res[i].name) && !ts->res[i].in_flight)
			res_del(ts, ts->res[i].name);
	ts->subscribed = 1;
out:
	envoy__service__discovery__v3__discovery_request__free_unpacked(rq, NULL);
	return 0;
out_err:
	envoy__service__discovery__v3__discovery_request__free_unpacked(rq, NULL);
	return -1;
}

static int handle_delta(struct ads_stream *st, const uint8_t *data, size_t len)
{
	DeltaRequest *rq = envoy__service__discovery__v3__delta_discovery_request__unpack(NULL, len, data);
	struct type_state *ts;
	size_t i;
	int t, first;

	if (!rq) {
		st->cp->stats.bad_requests++;
		stream_finish(st, GRPC_STATUS_INVALID_ARGUMENT, "a DeltaDiscoveryRequest that does not decode");
		return -1;
	}
	if (!st->authed && authenticate(st, rq->node) < 0)
		goto out_err;
	t = request_type(st, rq->type_url);
	if (t < 0)
		goto out;
	ts = &st->ts[t];
	first = !ts->subscribed;
	if (rq->response_nonce && *rq->response_nonce) {
		if (strcmp(rq->response_nonce, ts->nonce) == 0)
			ack_or_nack(st, (enum cp_type)t, rq->error_detail, NULL);
		else
			st->cp->stats.stale_nonces++;
	}
	if (rq->n_resource_names_subscribe > ADS_MAX_NAMES || rq->n_initial_resource_versions > ADS_MAX_NAMES) {
		st->cp->stats.bad_requests++;
		stream_finish(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "more than %d resource names", ADS_MAX_NAMES);
		goto out_err;
	}
	if (first) {
		/* a reconnecting proxy says what it has: send only what differs */
		for (i = 0; i < rq->n_initial_resource_versions; i++) {
			const Envoy__Service__Discovery__V3__DeltaDiscoveryRequest__InitialResourceVersionsEntry *e =
				rq->initial_resource_versions[i];
			struct res *r;

			if (!e->key || !e->value)
				continue;
			r = res_find(ts, e->key, 1);
			snprintf(r->sent, sizeof(r->sent), "%s", e->value);
			memcpy(r->acked, r->sent, sizeof(r->acked));
			r->state = RES_ACKED;
		}
		ts->wildcard = cp_type_is_wildcard((enum cp_type)t) && rq->n_resource_names_subscribe == 0;
	}
	for (i = 0; i < rq->n_resource_names_subscribe; i++) {
		if (strcmp(rq->resource_names_subscribe[i], "*") == 0)
			ts->wildcard = 1;
		else if (sub_add(ts, rq->resource_names_subscribe[i]) < 0) {
			st->cp->stats.bad_requests++;
			stream_finish(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "more than %d resource names",
				      ADS_MAX_NAMES);
			goto out_err;
		}
	}
	for (i = 0; i < rq->n_resource_names_unsubscribe; i++) {
		if (strcmp(rq->resource_names_unsubscribe[i], "*") == 0)
			ts->wildcard = 0;
		else {
			sub_del(ts, rq->resource_names_unsubscribe[i]);
			if (!interested(ts, rq->resource_names_unsubscribe[i]))
				res_del(ts, rq->resource_names_unsubscribe[i]);
		}
	}
	ts->subscribed = 1;
out:
	envoy__service__discovery__v3__delta_discovery_request__free_unpacked(rq, NULL);
	return 0;
out_err:
	envoy__service__discovery__v3__delta_discovery_request__free_unpacked(rq, NULL);
	return -1;
}

static void on_recv(struct pump_tag *tag, int ok)
{
	struct ads_stream *st = (struct ads_stream *)((char *)tag - offsetof(struct ads_stream, t_recv));
	grpc_byte_buffer_reader rd;
	grpc_slice s;
	int rc = -1;

	st->ops--;
	st->recv_busy = 0;
	if (!ok || st->closing) {
		if (st->recv_buf)
			grpc_byte_buffer_destroy(st->recv_buf);
		st->recv_buf = NULL;
		stream_settle(st);
		return;
	}
	if (!st->recv_buf) {
		/* the proxy half-closed: we are done too */
		stream_finish(st, GRPC_STATUS_OK, "the proxy ended the stream");
		stream_settle(st);
		return;
	}
	if (grpc_byte_buffer_reader_init(&rd, st->recv_buf)) {
		s = grpc_byte_buffer_reader_readall(&rd);
		grpc_byte_buffer_reader_destroy(&rd);
		rc = st->delta ? handle_delta(st, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s))
			       : handle_sotw(st, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s));
		grpc_slice_unref(s);
	} else {
		st->cp->stats.bad_requests++;
		stream_finish(st, GRPC_STATUS_INVALID_ARGUMENT, "a message that cannot be read");
	}
	grpc_byte_buffer_destroy(st->recv_buf);
	st->recv_buf = NULL;
	if (rc == 0) {
		stream_pump(st);
		stream_recv(st);
	}
	stream_settle(st);
}

static void stream_recv(struct ads_stream *st)
{
	grpc_op op;

	if (st->closing || st->finished || st->recv_busy)
		return;
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &st->recv_buf;
	if (start_batch(st, &op, 1, &st->t_recv) == 0)
		st->recv_busy = 1;
}

/* ---- accepting calls ---- */

static void request_call(struct cp *cp, int delta);

static void on_accept(struct pump_tag *tag, int ok)
{
	struct ads_stream *st = (struct ads_stream *)((char *)tag - offsetof(struct ads_stream, t_accept));
	struct cp *cp = st->cp;
	grpc_op ops[1];
	char *peer;

	st->ops--;
	if (!ok || cp->stopping) {
		/* the server is shutting down */
		st->closing = 1;
		stream_settle(st);
		return;
	}
	/* keep one call requested per method at all times */
	request_call(cp, st->delta);

	st->accepted = 1;
	cp->n_streams++;
	cp->stats.streams[st->delta]++;
	st->id = ++cp->next_stream_id;
	st->connected_at = cp_now();
	peer = grpc_call_get_peer(st->call);
	snprintf(st->peer, sizeof(st->peer), "%s", peer ? peer : "?");
	gpr_free(peer);

	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[0].data.recv_close_on_server.cancelled = &st->cancelled;
	start_batch(st, ops, 1, &st->t_close);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	start_batch(st, ops, 1, &st->t_meta);
	stream_recv(st);
	stream_settle(st);
}

static void request_call(struct cp *cp, int delta)
{
	struct ads_stream *st;
	grpc_call_error e;
	int t;

	if (cp->stopping)
		return;
	st = calloc(1, sizeof(*st));
	if (!st)
		abort();
	st->cp = cp;
	st->delta = delta;
	st->awaiting = -1;
	st->t_accept.done = on_accept;
	st->t_meta.done = on_meta;
	st->t_close.done = on_close;
	st->t_recv.done = on_recv;
	st->t_send.done = on_send;
	st->t_status.done = on_status;
	for (t = 0; t < CP_NTYPES; t++)
		st->ts[t].subscribed = 0;
	grpc_metadata_array_init(&st->md);
	st->next = cp->streams;
	if (cp->streams)
		cp->streams->prev = st;
	cp->streams = st;
	e = grpc_server_request_registered_call(cp->server, delta ? cp->method_delta : cp->method_sotw,
						&st->call, &st->deadline, &st->md, NULL,
						pump_cq(cp->pump), pump_cq(cp->pump), &st->t_accept);
	if (e != GRPC_CALL_OK) {
		cp_log("error", "grpc_server_request_registered_call: %s", grpc_call_error_to_string(e));
		st->closing = 1;
		stream_free(st);
		return;
	}
	st->ops++;
}

void ads_register(struct cp *cp)
{
	cp->method_sotw = grpc_server_register_method(cp->server, ADS_METHOD_SOTW, NULL,
						      GRPC_SRM_PAYLOAD_NONE, 0);
	cp->method_delta = grpc_server_register_method(cp->server, ADS_METHOD_DELTA, NULL,
						       GRPC_SRM_PAYLOAD_NONE, 0);
}

void ads_start(struct cp *cp)
{
	request_call(cp, 0);
	request_call(cp, 1);
}

void ads_refresh(struct cp *cp)
{
	struct ads_stream *st, *next;

	for (st = cp->streams; st; st = next) {
		const struct mesh_service *svc;
		struct cp_snapshot *snap;

		next = st->next;
		if (!st->authed || st->closing || st->finished)
			continue;
		svc = cp->model ? mesh_find_service(cp->model, st->service) : NULL;
		if (!svc || !svc->token || strcmp(svc->token, st->token) != 0) {
			/* the identity was withdrawn or its token changed */
			cp->stats.auth_failures++;
			stream_finish(st, GRPC_STATUS_UNAUTHENTICATED,
				      "service %s no longer accepts this proxy's token", st->service);
			continue;
		}
		snap = stream_snapshot(st, svc);
		if (snapshot_same(snap, st->snap)) {
			snapshot_unref(snap);
		} else {
			stale_update(st, st->snap, snap);
			snapshot_unref(st->snap);
			st->snap = snap;
		}
		/* also when nothing changed: pushes held until the sources
		 * synced go out now */
		stream_pump(st);
	}
}

void ads_cancel_all(struct cp *cp)
{
	struct ads_stream *st;

	for (st = cp->streams; st; st = st->next) {
		st->closing = 1;
		if (st->call && st->accepted)
			grpc_call_cancel(st->call, NULL);
	}
}

/* ---- admin ---- */

void ads_dump_json(struct cp *cp, struct evbuffer *out)
{
	const struct ads_stream *st;
	int first = 1, t;
	unsigned i;
	double now = cp_now();

	evbuffer_add(out, "[", 1);
	for (st = cp->streams; st; st = st->next) {
		if (!st->accepted || st->closing)
			continue;
		evbuffer_add_printf(out, "%s\n{\"stream\":%llu,\"variant\":\"%s\",\"peer\":", first ? "" : ",",
				    (unsigned long long)st->id, st->delta ? "delta" : "sotw");
		first = 0;
		json_str(out, st->peer);
		evbuffer_add(out, ",\"node\":", 8);
		json_str(out, st->node_id);
		evbuffer_add(out, ",\"service\":", 11);
		json_str(out, st->service);
		evbuffer_add_printf(out, ",\"proxyless\":%s", st->proxyless ? "true" : "false");
		evbuffer_add_printf(out, ",\"connected_seconds\":%.3f,\"awaiting_ack\":", now - st->connected_at);
		if (st->awaiting >= 0)
			json_str(out, cp_type_short[st->awaiting]);
		else
			evbuffer_add(out, "null", 4);
		evbuffer_add(out, ",\"types\":{", 10);
		for (t = 0; t < CP_NTYPES; t++) {
			const struct type_state *ts = &st->ts[t];

			evbuffer_add_printf(out, "%s\"%s\":{\"subscribed\":%s,\"wildcard\":%s,\"names\":[",
					    t ? "," : "", cp_type_short[t], ts->subscribed ? "true" : "false",
					    ts->wildcard ? "true" : "false");
			for (i = 0; i < ts->n_names; i++) {
				if (i)
					evbuffer_add(out, ",", 1);
				json_str(out, ts->names[i]);
			}
			evbuffer_add_printf(out, "],\"pushes\":%llu,\"acks\":%llu,\"nacks\":%llu,\"pending_nonce\":",
					    (unsigned long long)ts->pushes, (unsigned long long)ts->acks,
					    (unsigned long long)ts->nacks);
			json_str(out, ts->nonce);
			evbuffer_add(out, ",\"last_nack\":", 13);
			if (ts->last_nack)
				json_str(out, ts->last_nack);
			else
				evbuffer_add(out, "null", 4);
			evbuffer_add(out, ",\"resources\":[", 14);
			for (i = 0; i < ts->n_res; i++) {
				const struct res *r = &ts->res[i];

				evbuffer_add_printf(out, "%s{\"name\":", i ? "," : "");
				json_str(out, r->name);
				evbuffer_add_printf(out, ",\"sent\":\"%s\",\"acked\":\"%s\",\"state\":\"%s\"",
						    r->sent, r->acked, res_state_name[r->state]);
				if (r->state == RES_NACKED && ts->last_nack) {
					evbuffer_add(out, ",\"error\":", 9);
					json_str(out, ts->last_nack);
				}
				evbuffer_add(out, "}", 1);
			}
			evbuffer_add(out, "]}", 2);
		}
		evbuffer_add(out, "}}", 2);
	}
	evbuffer_add(out, "\n]\n", 3);
}
