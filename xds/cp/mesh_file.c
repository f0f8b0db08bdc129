/*
 * mesh_file.c: the mesh file (YAML, parsed by Debian's libyaml into a node
 * tree) turned into a struct mesh_model.
 *
 * The walk is driven by the schema: every mapping key is looked up in a
 * table of the keys allowed at that place, so an unknown or repeated key, a
 * wrong type, a bad value or a reference to a service that does not exist is
 * an error "FILE:LINE: key: message" with the line of the offending node.
 * The first error stops the load and the caller keeps its previous model.
 * List lengths are capped (MESH_MAX_*), so a file with YAML aliases cannot
 * make the walk blow up.
 */
#include "xds/cp/mesh.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

struct walk {
	const char *fname;
	yaml_document_t *doc;
	struct mesh_model *m;
	char *err;
	size_t errlen;
	jmp_buf fail;
};

static void __attribute__((noreturn, format(printf, 4, 5)))
fail(struct walk *w, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
	va_list ap;
	int off;

	off = snprintf(w->err, w->errlen, "%s:%lu: %s: ", w->fname,
		       n ? (unsigned long)n->start_mark.line + 1 : 0UL, key);
	if (off >= 0 && (size_t)off < w->errlen) {
		va_start(ap, fmt);
		vsnprintf(w->err + off, w->errlen - off, fmt, ap);
		va_end(ap);
	}
	/* values from the file are quoted in the message: keep it one line */
	for (char *p = w->err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	longjmp(w->fail, 1);
}

static yaml_node_t *node(struct walk *w, int idx)
{
	return yaml_document_get_node(w->doc, idx);
}

static const char *type_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE: return "a scalar";
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_MAPPING_NODE: return "a mapping";
	default: return "nothing";
	}
}

/* A scalar as a NUL-terminated arena string; refuses NUL bytes inside. */
static const char *scalar(struct walk *w, yaml_node_t *n, const char *key)
{
	if (n->type != YAML_SCALAR_NODE)
		fail(w, n, key, "expected a scalar, found %s", type_name(n));
	if (memchr(n->data.scalar.value, 0, n->data.scalar.length))
		fail(w, n, key, "NUL byte in value");
	return arena_strndup(&w->m->arena, (const char *)n->data.scalar.value,
			     n->data.scalar.length);
}

static void expect(struct walk *w, yaml_node_t *n, yaml_node_type_t t, const char *key)
{
	if (n->type != t)
		fail(w, n, key, "expected %s, found %s",
		     t == YAML_MAPPING_NODE ? "a mapping" :
		     t == YAML_SEQUENCE_NODE ? "a list" : "a scalar", type_name(n));
}

static int valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > MESH_NAME_MAX || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
			return 0;
	return 1;
}

static uint32_t uint_value(struct walk *w, yaml_node_t *n, const char *key,
			   uint32_t min, uint32_t max)
{
	const char *s = scalar(w, n, key);
	char *end;
	unsigned long v;

	errno = 0;
	if (*s < '0' || *s > '9')
		fail(w, n, key, "expected an integer, found '%s'", s);
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		fail(w, n, key, "expected an integer from %u to %u, found '%s'", min, max, s);
	return (uint32_t)v;
}

static uint32_t duration_value(struct walk *w, yaml_node_t *n, const char *key)
{
	const char *s = scalar(w, n, key);
	uint32_t ms;

	if (mesh_parse_duration_ms(s, &ms) < 0 || ms == 0)
		fail(w, n, key, "expected a duration such as 250ms, 2s, 1m, 1h (at most 24h, not 0), found '%s'", s);
	return ms;
}

static void addr_value(struct walk *w, yaml_node_t *n, const char *key, struct mesh_addr *out)
{
	const char *s = scalar(w, n, key);

	if (mesh_parse_addr(&w->m->arena, s, out) < 0)
		fail(w, n, key, "expected HOST:PORT with a port from 1 to 65535, found '%s'", s);
}

/* A list of scalars, or one scalar taken as a list of one. */
static const char **name_list(struct walk *w, yaml_node_t *n, const char *key,
			      unsigned *count, int allow_star)
{
	const char **out;
	unsigned i = 0;
	yaml_node_item_t *it;

	if (n->type == YAML_SCALAR_NODE) {
		out = arena_alloc(&w->m->arena, sizeof(*out));
		out[0] = scalar(w, n, key);
		*count = 1;
	} else {
		expect(w, n, YAML_SEQUENCE_NODE, key);
		if (n->data.sequence.items.top - n->data.sequence.items.start > MESH_MAX_LIST)
			fail(w, n, key, "more than %d entries", MESH_MAX_LIST);
		out = arena_alloc(&w->m->arena, sizeof(*out) *
				  (size_t)(n->data.sequence.items.top - n->data.sequence.items.start + 1));
		for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
			out[i++] = scalar(w, node(w, *it), key);
		*count = i;
	}
	for (i = 0; i < *count; i++) {
		if (allow_star && strcmp(out[i], "*") == 0)
			continue;
		if (!valid_name(out[i]))
			fail(w, n, key, "'%s' is not a service name (1-%d of a-z 0-9 -, no leading or trailing -)",
			     out[i], MESH_NAME_MAX);
	}
	return out;
}

/*
 * Iterates over a mapping's pairs checking each key against `keys` (NULL
 * terminated): an unknown key or one given twice fails. For each pair calls
 * fn(w, index of key in keys, key node, value node, ctx).
 */
typedef void (*pair_fn)(struct walk *w, int k, yaml_node_t *kn, yaml_node_t *vn, void *ctx);

static void each_pair(struct walk *w, yaml_node_t *map, const char *where,
		      const char *const *keys, pair_fn fn, void *ctx)
{
	yaml_node_pair_t *p;
	unsigned seen = 0;
	int k;

	expect(w, map, YAML_MAPPING_NODE, where);
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = node(w, p->key), *vn = node(w, p->value);
		const char *key = scalar(w, kn, where);

		for (k = 0; keys[k]; k++)
			if (strcmp(keys[k], key) == 0)
				break;
		if (!keys[k])
			fail(w, kn, key, "unknown key in %s", where);
		if (seen & (1u << k))
			fail(w, kn, key, "given twice in %s", where);
		seen |= 1u << k;
		fn(w, k, kn, vn, ctx);
	}
}

/* ---- retries / rate_limit / routes ---- */

static const char *const retry_keys[] = { "attempts", "on", "per_try_timeout", NULL };

static int valid_retry_on(const char *s)
{
	static const char *const ok[] = {
		"5xx", "gateway-error", "reset", "connect-failure", "retriable-4xx",
		"refused-stream", "retriable-status-codes", "cancelled",
		"deadline-exceeded", "internal", "resource-exhausted", "unavailable", NULL
	};
	const char *p = s;

	if (!*s)
		return 0;
	while (*p) {
		size_t n = strcspn(p, ",");
		int i;

		for (i = 0; ok[i]; i++)
			if (strlen(ok[i]) == n && strncmp(ok[i], p, n) == 0)
				break;
		if (!ok[i])
			return 0;
		p += n;
		if (*p == ',' && *++p == '\0')
			return 0;
	}
	return 1;
}

static void retry_pair(struct walk *w, int k, yaml_node_t *kn, yaml_node_t *vn, void *ctx)
{
	struct mesh_retries *r = ctx;

	switch (k) {
	case 0: r->attempts = uint_value(w, vn, "attempts", 1, 10); break;
	case 1:
		r->on = scalar(w, vn, "on");
		if (!valid_retry_on(r->on))
			fail(w, vn, "on", "'%s' is not a comma-separated list of Envoy retry_on conditions", r->on);
		break;
	case 2: r->per_try_timeout_ms = duration_value(w, vn, "per_try_timeout"); break;
	}
}

static const char *const rl_keys[] = { "requests", "per", NULL };

static void rl_pair(struct walk *w, int k, yaml_node_t *kn, yaml_node_t *vn, void *ctx)
{
	struct mesh_rate_limit *r = ctx;

	if (k == 0)
		r->requests = uint_value(w, vn, "requests", 1, 1000000000);
	else
		r->per_ms = duration_value(w, vn, "per");
}

static const char *const route_keys[] = { "prefix", "to", "rewrite", NULL };

static void route_pair(struct walk *w, int k, yaml_node_t *kn, yaml_node_t *vn, void *ctx)
{
	struct mesh_route *r = ctx;
	const char *s = scalar(w, vn, route_keys[k]);

	if (k != 1 && s[0] != '/')
		fail(w, vn, route_keys[k], "must start with '/', found '%s'", s);
	if (k != 1 && strpbrk(s, " \t\r\n?#"))
		fail(w, vn, route_keys[k], "'%s' is not a path prefix", s);
	if (k == 1 && !valid_name(s))
		fail(w, vn, "to", "'%s' is not a service name", s);
	if (k == 0) r->prefix = s;
	else if (k == 1) r->to = s;
	else r->rewrite = s;
}

/* ---- a service ---- */

static const char *const svc_keys[] = {
	"token", "protocol", "app", "inbound", "outbound", "endpoints", "calls",
	"allow", "routes", "timeout", "retries", "rate_limit", NULL
};

static void svc_pair(struct walk *w, int k, yaml_node_t *kn, yaml_node_t *vn, void *ctx)
{
	struct mesh_service *s = ctx;
	yaml_node_item_t *it;
	unsigned i;
	const char *v;

	switch (k) {
	case 0:
		s->token = scalar(w, vn, "token");
		if (strlen(s->token) < 16)
			fail(w, vn, "token", "shorter than 16 characters");
		break;
	case 1:
		v = scalar(w, vn, "protocol");
		if (strcmp(v, "http") == 0)
			s->protocol = MESH_PROTO_HTTP;
		else if (strcmp(v, "grpc") == 0)
			s->protocol = MESH_PROTO_GRPC;
		else
			fail(w, vn, "protocol", "expected http or grpc, found '%s'", v);
		break;
	case 2: addr_value(w, vn, "app", &s->app); break;
	case 3: addr_value(w, vn, "inbound", &s->inbound); break;
	case 4: addr_value(w, vn, "outbound", &s->outbound); break;
	case 5:
		expect(w, vn, YAML_SEQUENCE_NODE, "endpoints");
		if (vn->data.sequence.items.top - vn->data.sequence.items.start > MESH_MAX_LIST)
			fail(w, vn, "endpoints", "more than %d entries", MESH_MAX_LIST);
		s->endpoints = arena_alloc(&w->m->arena, sizeof(*s->endpoints) *
			(size_t)(vn->data.sequence.items.top - vn->data.sequence.items.start + 1));
		for (it = vn->data.sequence.items.start; it < vn->data.sequence.items.top; it++)
			addr_value(w, node(w, *it), "endpoints", &s->endpoints[s->n_endpoints++]);
		break;
	case 6:
		s->calls = name_list(w, vn, "calls", &s->n_calls, 0);
		s->calls_line = (int)vn->start_mark.line + 1;
		break;
	case 7:
		s->allow = name_list(w, vn, "allow", &s->n_allow, 1);
		s->allow_line = (int)vn->start_mark.line + 1;
		break;
	case 8:
		expect(w, vn, YAML_SEQUENCE_NODE, "routes");
		if (vn->data.sequence.items.top - vn->data.sequence.items.start > MESH_MAX_LIST)
			fail(w, vn, "routes", "more than %d entries", MESH_MAX_LIST);
		s->routes = arena_alloc(&w->m->arena, sizeof(*s->routes) *
			(size_t)(vn->data.sequence.items.top - vn->data.sequence.items.start + 1));
		for (it = vn->data.sequence.items.start; it < vn->data.sequence.items.top; it++) {
			yaml_node_t *rn = node(w, *it);
			struct mesh_route *r = &s->routes[s->n_routes++];

			r->line = (int)rn->start_mark.line + 1;
			each_pair(w, rn, "a route", route_keys, route_pair, r);
			if (!r->prefix || !r->to)
				fail(w, rn, "routes", "a route needs prefix and to");
		}
		break;
	case 9: s->timeout_ms = duration_value(w, vn, "timeout"); break;
	case 10:
		each_pair(w, vn, "retries", retry_keys, retry_pair, &s->retries);
		if (!s->retries.attempts)
			fail(w, vn, "retries", "attempts is required");
		if (!s->retries.on)
			s->retries.on = "5xx,connect-failure,reset";
		break;
	case 11:
		each_pair(w, vn, "rate_limit", rl_keys, rl_pair, &s->rate_limit);
		if (!s->rate_limit.requests || !s->rate_limit.per_ms)
			fail(w, vn, "rate_limit", "requests and per are both required");
		break;
	}
	(void)i;
}

/* ---- top level ---- */

static const char *const top_keys[] = { "trust_domain", "cert_ttl", "services", NULL };

struct top_ctx {
	yaml_node_t *services;
};

static void top_pair(struct walk *w, int k, yaml_node_t *kn, yaml_node_t *vn, void *ctx)
{
	struct top_ctx *t = ctx;
	const char *s;

	switch (k) {
	case 0:
		s = scalar(w, vn, "trust_domain");
		if (!*s || strlen(s) > 253 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789.-") != strlen(s))
			fail(w, vn, "trust_domain", "'%s' is not a trust domain (lower-case DNS name)", s);
		w->m->trust_domain = s;
		break;
	case 1: {
		uint32_t ms = duration_value(w, vn, "cert_ttl");

		if (ms < 60000)
			fail(w, vn, "cert_ttl", "at least 1m");
		w->m->cert_ttl_s = ms / 1000;
		break;
	}
	case 2: t->services = vn; break;
	}
}

static int svc_cmp(const void *a, const void *b)
{
	return strcmp(((const struct mesh_service *)a)->name, ((const struct mesh_service *)b)->name);
}

static void check_ref(struct walk *w, const struct mesh_service *s, const char *key,
		      const char *ref, int line)
{
	yaml_node_t at;

	if (mesh_find_service(w->m, ref))
		return;
	memset(&at, 0, sizeof(at));
	at.start_mark.line = (size_t)(line - 1);
	fail(w, &at, key, "service '%s' (in service '%s') is not defined", ref, s->name);
}

static void walk_root(struct walk *w, yaml_node_t *root)
{
	struct top_ctx t = { 0 };
	yaml_node_pair_t *p;
	unsigned i, j, n;

	if (!root)
		fail(w, NULL, "file", "empty document");
	each_pair(w, root, "the top level", top_keys, top_pair, &t);
	if (!w->m->trust_domain)
		w->m->trust_domain = "tern.local";
	if (!w->m->cert_ttl_s)
		w->m->cert_ttl_s = 3600;
	if (!t.services)
		fail(w, root, "services", "missing");
	expect(w, t.services, YAML_MAPPING_NODE, "services");
	n = (unsigned)(t.services->data.mapping.pairs.top - t.services->data.mapping.pairs.start);
	if (n > MESH_MAX_SERVICES)
		fail(w, t.services, "services", "more than %d services", MESH_MAX_SERVICES);
	w->m->services = arena_alloc(&w->m->arena, sizeof(struct mesh_service) * (n + 1));
	for (p = t.services->data.mapping.pairs.start; p < t.services->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = node(w, p->key), *vn = node(w, p->value);
		struct mesh_service *s = &w->m->services[w->m->n_services];

		s->name = scalar(w, kn, "services");
		s->line = (int)kn->start_mark.line + 1;
		if (!valid_name(s->name))
			fail(w, kn, "services", "'%s' is not a service name (1-%d of a-z 0-9 -, no leading or trailing -)",
			     s->name, MESH_NAME_MAX);
		for (i = 0; i < w->m->n_services; i++)
			if (strcmp(w->m->services[i].name, s->name) == 0)
				fail(w, kn, s->name, "service defined twice (first at line %d)",
				     w->m->services[i].line);
		w->m->n_services++;
		each_pair(w, vn, "a service", svc_keys, svc_pair, s);
	}
	qsort(w->m->services, w->m->n_services, sizeof(struct mesh_service), svc_cmp);

	/* cross references, once every name is known */
	for (i = 0; i < w->m->n_services; i++) {
		struct mesh_service *s = &w->m->services[i];

		for (j = 0; j < s->n_calls; j++)
			check_ref(w, s, "calls", s->calls[j], s->calls_line);
		for (j = 0; j < s->n_allow; j++)
			if (strcmp(s->allow[j], "*") != 0)
				check_ref(w, s, "allow", s->allow[j], s->allow_line);
		for (j = 0; j < s->n_routes; j++)
			check_ref(w, s, "to", s->routes[j].to, s->routes[j].line);
		if (s->token)
			for (j = 0; j < i; j++)
				if (w->m->services[j].token && strcmp(w->m->services[j].token, s->token) == 0) {
					yaml_node_t at;

					memset(&at, 0, sizeof(at));
					at.start_mark.line = (size_t)(s->line - 1);
					fail(w, &at, "token", "service '%s' has the same token as service '%s'",
					     s->name, w->m->services[j].name);
				}
	}
}

struct mesh_model *mesh_parse(const char *fname, const char *data, size_t len,
			      char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct walk w = { .fname = fname, .err = err, .errlen = errlen };
	struct mesh_model *volatile m;
	int ok;

	if (len > MESH_FILE_MAX) {
		snprintf(err, errlen, "%s:0: file: larger than %d bytes", fname, MESH_FILE_MAX);
		return NULL;
	}
	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "%s:0: file: out of memory", fname);
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errlen, "%s:%lu: yaml: %s%s%s", fname,
			 (unsigned long)parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "syntax error",
			 parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		return NULL;
	}
	yaml_parser_delete(&parser);

	m = calloc(1, sizeof(*m));
	if (!m)
		abort();
	arena_init(&m->arena);
	w.m = m;
	w.doc = &doc;
	ok = setjmp(w.fail) == 0;
	if (ok)
		walk_root(&w, yaml_document_get_root_node(&doc));
	yaml_document_delete(&doc);
	if (!ok) {
		mesh_model_free(m);
		return NULL;
	}
	return m;
}

struct mesh_model *mesh_load_file(const char *path, char *err, size_t errlen)
{
	struct mesh_model *m;
	struct stat st;
	char *buf;
	ssize_t n;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "%s:0: file: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MESH_FILE_MAX) {
		snprintf(err, errlen, "%s:0: file: not a regular file of at most %d bytes", path, MESH_FILE_MAX);
		close(fd);
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		abort();
	while (got < (size_t)st.st_size && (n = read(fd, buf + got, (size_t)st.st_size - got)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "%s:0: file: %s", path, strerror(errno));
			free(buf);
			close(fd);
			return NULL;
		}
		got += (size_t)n;
	}
	close(fd);
	m = mesh_parse(path, buf, got, err, errlen);
	free(buf);
	return m;
}

void mesh_model_free(struct mesh_model *m)
{
	if (!m)
		return;
	arena_free(&m->arena);
	free(m);
}

const struct mesh_service *mesh_find_service(const struct mesh_model *m, const char *name)
{
	size_t lo = 0, hi = m->n_services;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(name, m->services[mid].name);

		if (c == 0)
			return &m->services[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Compares every byte whatever the first difference, so the time taken says
 * nothing about how much of a token was right. */
static int token_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	unsigned char d = (unsigned char)(la != lb);

	for (i = 0; i < la; i++)
		d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return d == 0 && lb > 0;
}

const struct mesh_service *mesh_find_by_token(const struct mesh_model *m, const char *token)
{
	const struct mesh_service *found = NULL;
	unsigned i;

	for (i = 0; i < m->n_services; i++)
		if (m->services[i].token && token_eq(token, m->services[i].token))
			found = &m->services[i];
	return found;
}

int mesh_parse_addr(struct arena *a, const char *s, struct mesh_addr *out)
{
	const char *colon, *host = s;
	size_t hlen;
	char *end;
	unsigned long port;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -1;
		host = s + 1;
		hlen = (size_t)(rb - host);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -1;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen > 253 || strcspn(host, " \t/") < hlen)
		return -1;
	if (colon[1] < '0' || colon[1] > '9')
		return -1;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || port == 0 || port > 65535)
		return -1;
	out->host = arena_strndup(a, host, hlen);
	out->port = (uint16_t)port;
	return 0;
}

int mesh_parse_duration_ms(const char *s, uint32_t *ms)
{
	unsigned long long v;
	char *end;
	unsigned long long mult;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "s") == 0)
		mult = 1000;
	else if (strcmp(end, "m") == 0)
		mult = 60000;
	else if (strcmp(end, "h") == 0)
		mult = 3600000;
	else
		return -1;
	if (v > 86400000ULL / mult)
		return -1;
	*ms = (uint32_t)(v * mult);
	return 0;
}
