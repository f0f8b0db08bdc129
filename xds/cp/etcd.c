/*
 * etcd.c: the etcd registry source (see etcd.h for the key layout and the
 * consistency argument).
 *
 * States:
 *   RANGE     a unary KV.Range of the prefix is in flight
 *   WATCH     the Watch stream is open (created from `revision` + 1)
 *   BACKOFF   waiting before the next attempt (200 ms doubling to 2 s)
 * Every gRPC batch carries one of the tags below and counts in `ops`; after
 * stop, the source frees itself when the last one completes.
 */
#include "xds/cp/etcd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "etcd/api/etcdserverpb/rpc.pb-c.h"
#include "xds/cp/ads.h"
#include "xds/cp/mesh.h"

#define ETCD_METHOD_RANGE "/etcdserverpb.KV/Range"
#define ETCD_METHOD_WATCH "/etcdserverpb.Watch/Watch"
#define ETCD_RANGE_DEADLINE_MS 5000
#define ETCD_BACKOFF_MIN_MS 200
#define ETCD_BACKOFF_MAX_MS 2000
#define ETCD_VALUE_MAX 300

enum etcd_state { ETCD_RANGE, ETCD_WATCH, ETCD_BACKOFF };

static const char *const state_name[] = { "range", "watch", "backoff" };

struct instance {
	char *key;
	char *service;
	struct mesh_addr addr;   /* host points into storage owned here */
	char *host;
	int64_t mod_revision;
};

struct etcd {
	struct cp_source src;
	struct cp *cp;
	char *target, *prefix;
	grpc_channel *channel;
	enum etcd_state state;
	int stopping, ops;

	/* the unary Range */
	struct pump_tag t_range;
	grpc_call *rcall;
	grpc_metadata_array r_md_in, r_trailers;
	grpc_byte_buffer *r_send, *r_recv;
	grpc_status_code r_status;
	grpc_slice r_details;

	/* the Watch stream */
	struct pump_tag t_wsend, t_wrecv, t_wstatus;
	grpc_call *wcall;
	grpc_metadata_array w_md_in, w_trailers;
	grpc_byte_buffer *w_send, *w_recv;
	grpc_status_code w_status;
	grpc_slice w_details;
	int w_calls;             /* batches of the current watch call in flight */

	struct event *timer;
	unsigned backoff_ms;

	int64_t revision;        /* every change up to here has been applied */
	int synced;              /* a Range has completed once */
	struct instance *inst;   /* sorted by key */
	unsigned n, cap;
	struct mesh_addr *by_svc; /* rebuilt on change: sorted by service */
	const char **by_svc_name;
	unsigned n_by_svc;
	int dirty;

	uint64_t events, bad_values, resyncs, rewatches;
	char last_error[256];
};

static void start_range(struct etcd *e);
static void start_watch(struct etcd *e);

/* ---- the instance table ---- */

static struct instance *inst_find(struct etcd *e, const char *key, unsigned *at)
{
	unsigned lo = 0, hi = e->n;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		int c = strcmp(key, e->inst[mid].key);

		if (c == 0) {
			*at = mid;
			return &e->inst[mid];
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*at = lo;
	return NULL;
}

static void inst_clear(struct instance *i)
{
	free(i->key);
	free(i->service);
	free(i->host);
}

static void inst_del(struct etcd *e, const char *key)
{
	unsigned at;
	struct instance *i = inst_find(e, key, &at);

	if (!i)
		return;
	inst_clear(i);
	memmove(&e->inst[at], &e->inst[at + 1], (e->n - at - 1) * sizeof(*i));
	e->n--;
	e->dirty = 1;
}

static void inst_clear_all(struct etcd *e)
{
	unsigned i;

	for (i = 0; i < e->n; i++)
		inst_clear(&e->inst[i]);
	e->n = 0;
	e->dirty = 1;
}

/* A key/value from etcd: added or replaced, or refused (counted). */
static void inst_put(struct etcd *e, const ProtobufCBinaryData *k, const ProtobufCBinaryData *v,
		     int64_t mod_revision)
{
	size_t plen = strlen(e->prefix);
	char key[512], val[ETCD_VALUE_MAX + 1], *slash;
	struct arena a;
	struct mesh_addr addr;
	struct instance *i;
	unsigned at;
	size_t svc_len;

	if (k->len >= sizeof(key) || k->len <= plen || memchr(k->data, 0, k->len))
		goto bad_key;
	memcpy(key, k->data, k->len);
	key[k->len] = '\0';
	slash = strchr(key + plen, '/');
	if (!slash || slash == key + plen || !slash[1] || strchr(slash + 1, '/'))
		goto bad_key;
	svc_len = (size_t)(slash - (key + plen));
	if (v->len > ETCD_VALUE_MAX || memchr(v->data, 0, v->len))
		goto bad_value;
	memcpy(val, v->data, v->len);
	val[v->len] = '\0';
	arena_init(&a);
	if (mesh_parse_addr(&a, val, &addr) < 0) {
		arena_free(&a);
		goto bad_value;
	}
	i = inst_find(e, key, &at);
	if (!i) {
		if (e->n == e->cap) {
			e->cap = e->cap ? e->cap * 2 : 64;
			e->inst = realloc(e->inst, e->cap * sizeof(*e->inst));
			if (!e->inst)
				abort();
		}
		memmove(&e->inst[at + 1], &e->inst[at], (e->n - at) * sizeof(*e->inst));
		i = &e->inst[at];
		memset(i, 0, sizeof(*i));
		e->n++;
		i->key = strdup(key);
		i->service = strndup(key + plen, svc_len);
	} else {
		free(i->host);
	}
	i->host = strdup(addr.host);
	if (!i->key || !i->service || !i->host)
		abort();
	i->addr.host = i->host;
	i->addr.port = addr.port;
	i->mod_revision = mod_revision;
	arena_free(&a);
	e->dirty = 1;
	return;
bad_key:
	e->bad_values++;
	cp_log("warning", "etcd %s: key of %zu bytes under %s is not <service>/<instance>: ignored",
	       e->target, k->len, e->prefix);
	return;
bad_value:
	e->bad_values++;
	snprintf(e->last_error, sizeof(e->last_error), "%.*s: value is not HOST:PORT",
		 (int)(k->len > 200 ? 200 : k->len), (const char *)k->data);
	cp_log("warning", "etcd %s: %s (%zu bytes): instance ignored", e->target, e->last_error, v->len);
	/* a key whose new value is bad no longer names a usable instance */
	if (k->len < sizeof(key)) {
		memcpy(key, k->data, k->len);
		key[k->len] = '\0';
		inst_del(e, key);
	}
}

static int by_svc_cmp(const void *a, const void *b)
{
	const struct instance *x = *(struct instance *const *)a, *y = *(struct instance *const *)b;

	return strcmp(x->service, y->service);
}

/* After applying changes: rebuilds the per-service view, tells cp. */
static void changed(struct etcd *e)
{
	struct instance **order;
	unsigned i;

	if (!e->dirty)
		return;
	e->dirty = 0;
	free(e->by_svc);
	free(e->by_svc_name);
	e->by_svc = calloc(e->n + 1, sizeof(*e->by_svc));
	e->by_svc_name = calloc(e->n + 1, sizeof(*e->by_svc_name));
	order = calloc(e->n + 1, sizeof(*order));
	if (!e->by_svc || !e->by_svc_name || !order)
		abort();
	for (i = 0; i < e->n; i++)
		order[i] = &e->inst[i];
	if (e->n)
		qsort(order, e->n, sizeof(*order), by_svc_cmp);
	for (i = 0; i < e->n; i++) {
		e->by_svc[i] = order[i]->addr;
		e->by_svc_name[i] = order[i]->service;
	}
	e->n_by_svc = e->n;
	free(order);
	cp_changed(e->cp);
}

static unsigned etcd_endpoints(struct cp_source *s, const char *service, const struct mesh_addr **out)
{
	struct etcd *e = (struct etcd *)s;
	unsigned lo = 0, hi = e->n_by_svc, first;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (strcmp(e->by_svc_name[mid], service) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	first = lo;
	while (lo < e->n_by_svc && strcmp(e->by_svc_name[lo], service) == 0)
		lo++;
	*out = e->by_svc ? &e->by_svc[first] : NULL;
	return lo - first;
}

/* ---- lifetime and retries ---- */

static void etcd_free(struct etcd *e)
{
	if (e->wcall) {
		/* the last batch of a cancelled watch completed: its call too */
		grpc_call_unref(e->wcall);
		grpc_metadata_array_destroy(&e->w_md_in);
		grpc_metadata_array_destroy(&e->w_trailers);
		grpc_slice_unref(e->w_details);
	}
	if (e->w_send)
		grpc_byte_buffer_destroy(e->w_send);
	if (e->w_recv)
		grpc_byte_buffer_destroy(e->w_recv);
	inst_clear_all(e);
	free(e->inst);
	free(e->by_svc);
	free(e->by_svc_name);
	if (e->timer)
		event_free(e->timer);
	grpc_channel_destroy(e->channel);
	free(e->target);
	free(e->prefix);
	free(e);
}

static int settle(struct etcd *e)
{
	if (e->stopping && e->ops == 0) {
		etcd_free(e);
		return 1;
	}
	return 0;
}

static void backoff(struct etcd *e, const char *why)
{
	struct timeval tv;

	snprintf(e->last_error, sizeof(e->last_error), "%s", why);
	if (e->stopping)
		return;
	e->state = ETCD_BACKOFF;
	e->backoff_ms = e->backoff_ms ? e->backoff_ms * 2 : ETCD_BACKOFF_MIN_MS;
	if (e->backoff_ms > ETCD_BACKOFF_MAX_MS)
		e->backoff_ms = ETCD_BACKOFF_MAX_MS;
	cp_log("warning", "etcd %s: %s; retrying in %u ms", e->target, why, e->backoff_ms);
	tv.tv_sec = e->backoff_ms / 1000;
	tv.tv_usec = (e->backoff_ms % 1000) * 1000;
	evtimer_add(e->timer, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct etcd *e = arg;

	/* revision 0: nothing read yet, or a compaction made us start over */
	if (e->revision == 0)
		start_range(e);
	else
		start_watch(e);
}

static grpc_byte_buffer *pack(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	grpc_slice s = grpc_slice_malloc(len);
	grpc_byte_buffer *b;

	protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
	b = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return b;
}

static grpc_slice read_all(grpc_byte_buffer *b)
{
	grpc_byte_buffer_reader rd;
	grpc_slice s;

	if (!grpc_byte_buffer_reader_init(&rd, b))
		return grpc_empty_slice();
	s = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	return s;
}

/* prefix + 1 in its last byte: the end of the prefix's key range */
static void range_end(const char *prefix, ProtobufCBinaryData *key, ProtobufCBinaryData *end)
{
	size_t n = strlen(prefix);

	key->data = (uint8_t *)prefix;
	key->len = n;
	end->data = malloc(n);
	if (!end->data)
		abort();
	memcpy(end->data, prefix, n);
	end->len = n;
	while (end->len && end->data[end->len - 1] == 0xff)
		end->len--;
	if (end->len)
		end->data[end->len - 1]++;
	else {
		end->data[0] = 0;   /* "\0": every key >= key */
		end->len = 1;
	}
}

/* ---- Range ---- */

static void on_range(struct pump_tag *tag, int ok)
{
	struct etcd *e = (struct etcd *)((char *)tag - offsetof(struct etcd, t_range));
	Etcdserverpb__RangeResponse *rr = NULL;
	char why[300];
	size_t i;

	e->ops--;
	grpc_call_unref(e->rcall);
	e->rcall = NULL;
	grpc_byte_buffer_destroy(e->r_send);
	e->r_send = NULL;
	if (ok && e->r_status == GRPC_STATUS_OK && e->r_recv) {
		grpc_slice s = read_all(e->r_recv);

		rr = etcdserverpb__range_response__unpack(NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
		grpc_slice_unref(s);
	}
	if (e->r_recv)
		grpc_byte_buffer_destroy(e->r_recv);
	e->r_recv = NULL;
	if (!rr) {
		char *d = grpc_slice_to_c_string(e->r_details);

		snprintf(why, sizeof(why), "Range: status %d %s", (int)e->r_status, d);
		gpr_free(d);
	}
	grpc_slice_unref(e->r_details);
	grpc_metadata_array_destroy(&e->r_md_in);
	grpc_metadata_array_destroy(&e->r_trailers);
	if (settle(e)) {
		if (rr)
			etcdserverpb__range_response__free_unpacked(rr, NULL);
		return;
	}
	if (!rr) {
		backoff(e, why);
		return;
	}
	if (rr->more || !rr->header) {
		etcdserverpb__range_response__free_unpacked(rr, NULL);
		backoff(e, "Range: truncated response");
		return;
	}
	/* the whole prefix as of header.revision replaces what we had */
	inst_clear_all(e);
	for (i = 0; i < rr->n_kvs; i++)
		inst_put(e, &rr->kvs[i]->key, &rr->kvs[i]->value, rr->kvs[i]->mod_revision);
	e->revision = rr->header->revision;
	e->synced = 1;
	cp_log("info", "etcd %s: %u instances under %s at revision %lld", e->target, e->n, e->prefix,
	       (long long)e->revision);
	etcdserverpb__range_response__free_unpacked(rr, NULL);
	e->dirty = 1;     /* the first read must reach cp even if it found nothing */
	changed(e);
	start_watch(e);
}

static void start_range(struct etcd *e)
{
	Etcdserverpb__RangeRequest rq = ETCDSERVERPB__RANGE_REQUEST__INIT;
	grpc_slice method = grpc_slice_from_static_string(ETCD_METHOD_RANGE);
	gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
					     gpr_time_from_millis(ETCD_RANGE_DEADLINE_MS, GPR_TIMESPAN));
	grpc_op ops[6];
	grpc_call_error err;

	e->state = ETCD_RANGE;
	e->resyncs++;
	range_end(e->prefix, &rq.key, &rq.range_end);
	e->r_send = pack(&rq.base);
	free(rq.range_end.data);
	e->rcall = grpc_channel_create_call(e->channel, NULL, GRPC_PROPAGATE_DEFAULTS, pump_cq(e->cp->pump),
					    method, NULL, deadline, NULL);
	grpc_metadata_array_init(&e->r_md_in);
	grpc_metadata_array_init(&e->r_trailers);
	e->r_details = grpc_empty_slice();
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = e->r_send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &e->r_md_in;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &e->r_recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &e->r_trailers;
	ops[5].data.recv_status_on_client.status = &e->r_status;
	ops[5].data.recv_status_on_client.status_details = &e->r_details;
	err = grpc_call_start_batch(e->rcall, ops, 6, &e->t_range, NULL);
	if (err != GRPC_CALL_OK) {
		cp_log("error", "etcd: Range batch: %s", grpc_call_error_to_string(err));
		abort();   /* a broken invariant of ours, not an etcd failure */
	}
	e->ops++;
}

/* ---- Watch ---- */

static void watch_end(struct etcd *e)
{
	/* the status batch completes last; the others may still be out */
	if (e->w_calls)
		return;
	grpc_call_unref(e->wcall);
	e->wcall = NULL;
	grpc_metadata_array_destroy(&e->w_md_in);
	grpc_metadata_array_destroy(&e->w_trailers);
	grpc_slice_unref(e->w_details);
	if (e->stopping)
		return;
	if (e->revision == 0) {
		/* compacted: read everything again */
		start_range(e);
	} else {
		char why[300], *d = grpc_slice_to_c_string(e->w_details);

		snprintf(why, sizeof(why), "Watch ended: status %d %s", (int)e->w_status, d);
		gpr_free(d);
		e->rewatches++;
		backoff(e, why);
	}
}

static void on_wsend(struct pump_tag *tag, int ok)
{
	struct etcd *e = (struct etcd *)((char *)tag - offsetof(struct etcd, t_wsend));

	e->ops--;
	e->w_calls--;
	grpc_byte_buffer_destroy(e->w_send);
	e->w_send = NULL;
	if (!settle(e))
		watch_end(e);
}

static void on_wstatus(struct pump_tag *tag, int ok)
{
	struct etcd *e = (struct etcd *)((char *)tag - offsetof(struct etcd, t_wstatus));

	e->ops--;
	e->w_calls--;
	if (!settle(e))
		watch_end(e);
}

static void watch_recv(struct etcd *e)
{
	grpc_op op;

	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &e->w_recv;
	if (grpc_call_start_batch(e->wcall, &op, 1, &e->t_wrecv, NULL) == GRPC_CALL_OK) {
		e->ops++;
		e->w_calls++;
	}
}

static void on_wrecv(struct pump_tag *tag, int ok)
{
	struct etcd *e = (struct etcd *)((char *)tag - offsetof(struct etcd, t_wrecv));
	Etcdserverpb__WatchResponse *wr = NULL;
	int got = ok && e->w_recv;
	size_t i;

	e->ops--;
	e->w_calls--;
	if (got) {
		grpc_slice s = read_all(e->w_recv);

		wr = etcdserverpb__watch_response__unpack(NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
		grpc_slice_unref(s);
	}
	if (e->w_recv)
		grpc_byte_buffer_destroy(e->w_recv);
	e->w_recv = NULL;
	if (settle(e)) {
		if (wr)
			etcdserverpb__watch_response__free_unpacked(wr, NULL);
		return;
	}
	if (!wr) {
		/* end of stream or garbage: cancel; the status batch restarts us */
		if (got)
			cp_log("warning", "etcd %s: a WatchResponse that does not decode", e->target);
		grpc_call_cancel(e->wcall, NULL);
		watch_end(e);
		return;
	}
	if (wr->compact_revision || (wr->canceled && !wr->created)) {
		cp_log("warning", "etcd %s: watch from revision %lld cancelled (compacted to %lld: %s); reading %s again",
		       e->target, (long long)e->revision + 1, (long long)wr->compact_revision,
		       wr->cancel_reason ? wr->cancel_reason : "", e->prefix);
		e->revision = 0;
		etcdserverpb__watch_response__free_unpacked(wr, NULL);
		grpc_call_cancel(e->wcall, NULL);
		watch_end(e);
		return;
	}
	if (wr->created) {
		e->state = ETCD_WATCH;
		e->backoff_ms = 0;
		e->last_error[0] = '\0';
	}
	for (i = 0; i < wr->n_events; i++) {
		const Mvccpb__Event *ev = wr->events[i];
		char key[512];

		if (!ev->kv)
			continue;
		e->events++;
		if (ev->kv->mod_revision > e->revision)
			e->revision = ev->kv->mod_revision;
		if (ev->type == MVCCPB__EVENT__EVENT_TYPE__DELETE) {
			if (ev->kv->key.len < sizeof(key) && !memchr(ev->kv->key.data, 0, ev->kv->key.len)) {
				memcpy(key, ev->kv->key.data, ev->kv->key.len);
				key[ev->kv->key.len] = '\0';
				inst_del(e, key);
			}
		} else {
			inst_put(e, &ev->kv->key, &ev->kv->value, ev->kv->mod_revision);
		}
	}
	/* a response without events (progress) still moves the revision on */
	if (!wr->n_events && !wr->created && wr->header && wr->header->revision > e->revision)
		e->revision = wr->header->revision;
	etcdserverpb__watch_response__free_unpacked(wr, NULL);
	changed(e);
	watch_recv(e);
}

static void start_watch(struct etcd *e)
{
	Etcdserverpb__WatchRequest rq = ETCDSERVERPB__WATCH_REQUEST__INIT;
	Etcdserverpb__WatchCreateRequest cr = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
	grpc_slice method = grpc_slice_from_static_string(ETCD_METHOD_WATCH);
	grpc_op ops[3];

	range_end(e->prefix, &cr.key, &cr.range_end);
	cr.start_revision = e->revision + 1;
	cr.progress_notify = 1;
	rq.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
	rq.create_request = &cr;
	e->w_send = pack(&rq.base);
	free(cr.range_end.data);
	e->wcall = grpc_channel_create_call(e->channel, NULL, GRPC_PROPAGATE_DEFAULTS, pump_cq(e->cp->pump),
					    method, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_metadata_array_init(&e->w_md_in);
	grpc_metadata_array_init(&e->w_trailers);
	e->w_details = grpc_empty_slice();
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = e->w_send;
	ops[2].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[2].data.recv_initial_metadata.recv_initial_metadata = &e->w_md_in;
	if (grpc_call_start_batch(e->wcall, ops, 3, &e->t_wsend, NULL) != GRPC_CALL_OK)
		abort();
	e->ops++;
	e->w_calls++;
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[0].data.recv_status_on_client.trailing_metadata = &e->w_trailers;
	ops[0].data.recv_status_on_client.status = &e->w_status;
	ops[0].data.recv_status_on_client.status_details = &e->w_details;
	if (grpc_call_start_batch(e->wcall, ops, 1, &e->t_wstatus, NULL) != GRPC_CALL_OK)
		abort();
	e->ops++;
	e->w_calls++;
	watch_recv(e);
	e->state = ETCD_WATCH;
}

/* ---- the source ops ---- */

static void etcd_dump(struct cp_source *s, struct evbuffer *out)
{
	struct etcd *e = (struct etcd *)s;
	unsigned i;

	evbuffer_add(out, "{\"kind\":\"etcd\",\"target\":", 24);
	json_str(out, e->target);
	evbuffer_add(out, ",\"prefix\":", 10);
	json_str(out, e->prefix);
	evbuffer_add_printf(out, ",\"synced\":%s,\"state\":\"%s\",\"revision\":%lld,\"events\":%llu,\"bad_values\":%llu,"
			    "\"resyncs\":%llu,\"rewatches\":%llu,\"last_error\":",
			    e->synced ? "true" : "false", state_name[e->state], (long long)e->revision, (unsigned long long)e->events,
			    (unsigned long long)e->bad_values, (unsigned long long)e->resyncs,
			    (unsigned long long)e->rewatches);
	if (e->last_error[0])
		json_str(out, e->last_error);
	else
		evbuffer_add(out, "null", 4);
	evbuffer_add(out, ",\"instances\":[", 14);
	for (i = 0; i < e->n; i++) {
		evbuffer_add_printf(out, "%s{\"key\":", i ? "," : "");
		json_str(out, e->inst[i].key);
		evbuffer_add(out, ",\"service\":", 11);
		json_str(out, e->inst[i].service);
		evbuffer_add(out, ",\"host\":", 8);
		json_str(out, e->inst[i].host);
		evbuffer_add_printf(out, ",\"port\":%u,\"mod_revision\":%lld}", e->inst[i].addr.port,
				    (long long)e->inst[i].mod_revision);
	}
	evbuffer_add(out, "]}", 2);
}

static int etcd_synced(struct cp_source *s)
{
	return ((struct etcd *)s)->synced;
}

static void etcd_stop(struct cp_source *s)
{
	struct etcd *e = (struct etcd *)s;

	e->stopping = 1;
	evtimer_del(e->timer);
	if (e->rcall)
		grpc_call_cancel(e->rcall, NULL);
	if (e->wcall)
		grpc_call_cancel(e->wcall, NULL);
	settle(e);
}

static const struct cp_source_ops etcd_ops = {
	.kind = "etcd",
	.endpoints = etcd_endpoints,
	.synced = etcd_synced,
	.dump_json = etcd_dump,
	.stop = etcd_stop,
};

struct cp_source *etcd_source_start(struct cp *cp, const char *target, const char *prefix)
{
	struct etcd *e = calloc(1, sizeof(*e));
	grpc_channel_credentials *creds;

	if (!e)
		abort();
	if (!*prefix || strlen(prefix) > 200) {
		fprintf(stderr, "tern-cp: --etcd-prefix: 1 to 200 bytes\n");
		free(e);
		return NULL;
	}
	e->src.ops = &etcd_ops;
	e->src.cp = cp;
	e->cp = cp;
	e->target = strdup(target);
	e->prefix = strdup(prefix);
	e->t_range.done = on_range;
	e->t_wsend.done = on_wsend;
	e->t_wrecv.done = on_wrecv;
	e->t_wstatus.done = on_wstatus;
	creds = grpc_insecure_credentials_create();
	e->channel = grpc_channel_create(target, creds, NULL);
	grpc_channel_credentials_release(creds);
	e->timer = evtimer_new(cp->base, on_timer, e);
	start_range(e);
	return &e->src;
}
