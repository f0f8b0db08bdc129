/*
 * admin.c: the admin endpoints (see admin.h). Each answer is built in one
 * evbuffer from the main thread's state; nothing is cached.
 */
#include "xds/cp/admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "xds/cp/ads.h"
#include "xds/cp/ca.h"
#include "xds/cp/mesh.h"
#include "xds/cp/source.h"

static void reply(struct evhttp_request *req, int code, const char *ctype, struct evbuffer *body)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
	evhttp_send_reply(req, code, code == 200 ? "OK" : code == 404 ? "Not Found" :
			  code == 405 ? "Method Not Allowed" : "Service Unavailable", body);
}

/* One metric family of a single sample (Prometheus text format 0.0.4). */
static void metric1(struct evbuffer *b, const char *name, const char *type, const char *help,
		    unsigned long long v)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type,
			    name, v);
}

/* A counter family with one sample per resource type. */
static void per_type(struct evbuffer *b, const char *name, const char *help,
		     const uint64_t v[CP_NTYPES])
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (int t = 0; t < CP_NTYPES; t++)
		evbuffer_add_printf(b, "%s{type=\"%s\"} %llu\n", name, cp_type_short[t],
				    (unsigned long long)v[t]);
}

static void metrics(struct cp *cp, struct evbuffer *b)
{
	const struct cp_stats *s = &cp->stats;
	int i;

	metric1(b, "tern_cp_connected_proxies", "gauge", "ADS streams open now.", cp->n_streams);
	evbuffer_add_printf(b, "# HELP tern_cp_streams_total ADS streams accepted.\n"
			    "# TYPE tern_cp_streams_total counter\n"
			    "tern_cp_streams_total{variant=\"sotw\"} %llu\n"
			    "tern_cp_streams_total{variant=\"delta\"} %llu\n",
			    (unsigned long long)s->streams[0], (unsigned long long)s->streams[1]);
	per_type(b, "tern_cp_pushes_total", "Discovery responses sent.", s->pushes);
	per_type(b, "tern_cp_acks_total", "Responses ACKed by proxies.", s->acks);
	per_type(b, "tern_cp_nacks_total",
		 "Responses NACKed by proxies (error_detail in /proxies and the log).", s->nacks);
	evbuffer_add_printf(b, "# HELP tern_cp_push_latency_seconds From sending a response to its ACK.\n"
			    "# TYPE tern_cp_push_latency_seconds histogram\n");
	for (i = 0; i < CP_LAT_BUCKETS; i++)
		evbuffer_add_printf(b, "tern_cp_push_latency_seconds_bucket{le=\"%g\"} %llu\n",
				    cp_lat_bounds[i], (unsigned long long)s->lat_bucket[i]);
	evbuffer_add_printf(b, "tern_cp_push_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
			    "tern_cp_push_latency_seconds_sum %.6f\n"
			    "tern_cp_push_latency_seconds_count %llu\n",
			    (unsigned long long)s->lat_count, s->lat_sum, (unsigned long long)s->lat_count);
	metric1(b, "tern_cp_auth_failures_total", "counter",
		"Proxies refused: no, unknown or mismatched credentials.", s->auth_failures);
	metric1(b, "tern_cp_bad_requests_total", "counter",
		"Discovery requests that did not decode or were invalid.", s->bad_requests);
	metric1(b, "tern_cp_unknown_type_requests_total", "counter",
		"Requests for a type tern-cp does not serve.", s->unknown_types);
	metric1(b, "tern_cp_stale_nonces_total", "counter",
		"Requests answering a response that was not the outstanding one.", s->stale_nonces);
	evbuffer_add_printf(b, "# HELP tern_cp_mesh_reloads_total Mesh file loads.\n"
			    "# TYPE tern_cp_mesh_reloads_total counter\n"
			    "tern_cp_mesh_reloads_total{result=\"ok\"} %llu\n"
			    "tern_cp_mesh_reloads_total{result=\"error\"} %llu\n",
			    (unsigned long long)s->reloads_ok, (unsigned long long)s->reloads_failed);
	metric1(b, "tern_cp_snapshots_built_total", "counter", "Sidecar snapshots generated.",
		s->snapshots_built);
	metric1(b, "tern_cp_certificates_issued_total", "counter", "Leaf certificates signed.",
		s->certs_issued);
	metric1(b, "tern_cp_xds_certificates_issued_total", "counter",
		"tern-cp's own xDS serving certificates signed (--xds-tls: at start and at half-life).",
		s->xds_tls_issued);
	metric1(b, "tern_cp_generation", "gauge", "Changes applied since start.", cp->generation);
}

static void mesh_json(struct cp *cp, struct evbuffer *b)
{
	unsigned i, j;

	evbuffer_add(b, "{\"path\":", 8);
	json_str(b, cp->mesh_path);
	evbuffer_add_printf(b, ",\"loaded_at\":%lld,\"last_error\":", (long long)cp->loaded_at);
	if (cp->last_error[0])
		json_str(b, cp->last_error);
	else
		evbuffer_add(b, "null", 4);
	evbuffer_add(b, ",\"trust_domain\":", 16);
	json_str(b, cp->model ? cp->model->trust_domain : NULL);
	evbuffer_add(b, ",\"services\":[", 13);
	for (i = 0; cp->model && i < cp->model->n_services; i++) {
		const struct mesh_service *s = &cp->model->services[i];

		evbuffer_add_printf(b, "%s{\"name\":", i ? "," : "");
		json_str(b, s->name);
		evbuffer_add(b, ",\"calls\":[", 10);
		for (j = 0; j < s->n_calls; j++) {
			if (j)
				evbuffer_add(b, ",", 1);
			json_str(b, s->calls[j]);
		}
		evbuffer_add(b, "],\"allow\":[", 11);
		for (j = 0; j < s->n_allow; j++) {
			if (j)
				evbuffer_add(b, ",", 1);
			json_str(b, s->allow[j]);
		}
		evbuffer_add_printf(b, "],\"static_endpoints\":%u,\"routes\":%u}", s->n_endpoints, s->n_routes);
	}
	evbuffer_add(b, "]}\n", 3);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct cp *cp = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *b = evbuffer_new();
	unsigned i;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evbuffer_add_printf(b, "only GET\n");
		reply(req, 405, "text/plain", b);
	} else if (strcmp(uri, "/ready") == 0) {
		int synced = cp_sources_synced(cp);

		evbuffer_add_printf(b, !cp->model ? "no mesh model loaded\n" :
				    !synced ? "waiting for the registry sources' first read\n" : "ready\n");
		reply(req, cp->model && synced ? 200 : 503, "text/plain", b);
	} else if (strcmp(uri, "/proxies") == 0) {
		ads_dump_json(cp, b);
		reply(req, 200, "application/json", b);
	} else if (strcmp(uri, "/mesh") == 0) {
		mesh_json(cp, b);
		reply(req, 200, "application/json", b);
	} else if (strcmp(uri, "/sources") == 0) {
		evbuffer_add(b, "[", 1);
		for (i = 0; i < cp->n_sources; i++) {
			if (i)
				evbuffer_add(b, ",", 1);
			cp->sources[i]->ops->dump_json(cp->sources[i], b);
		}
		evbuffer_add(b, "]\n", 2);
		reply(req, 200, "application/json", b);
	} else if (strcmp(uri, "/ca") == 0) {
		ca_dump_json(cp->ca, b);
		reply(req, 200, "application/json", b);
	} else if (strcmp(uri, "/metrics") == 0) {
		metrics(cp, b);
		reply(req, 200, "text/plain; version=0.0.4", b);
	} else {
		evbuffer_add_printf(b, "not found; try /ready /proxies /mesh /sources /ca /metrics\n");
		reply(req, 404, "text/plain", b);
	}
	evbuffer_free(b);
}

struct evhttp *admin_start(struct cp *cp, const char *hostport)
{
	struct evhttp *h = evhttp_new(cp->base);
	char host[256];
	const char *colon = strrchr(hostport, ':');
	size_t hl;

	if (!h || !colon || (hl = (size_t)(colon - hostport)) >= sizeof(host)) {
		fprintf(stderr, "tern-cp: --admin %s: expected HOST:PORT\n", hostport);
		if (h)
			evhttp_free(h);
		return NULL;
	}
	memcpy(host, hostport, hl);
	host[hl] = '\0';
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	if (evhttp_bind_socket(h, host, (ev_uint16_t)atoi(colon + 1)) != 0) {
		fprintf(stderr, "tern-cp: --admin %s: cannot bind\n", hostport);
		evhttp_free(h);
		return NULL;
	}
	evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
	evhttp_set_gencb(h, on_request, cp);
	return h;
}
