/*
 * main.c: tern-cp's command line, its main loop and the glue between the
 * sources of truth and the ADS streams.
 *
 *   tern-cp --mesh FILE --xds HOST:PORT --admin HOST:PORT
 *           [--ca-dir DIR] [--no-mtls] [--id NAME]
 *           [--etcd HOST:PORT --etcd-prefix PREFIX]
 *
 * The main thread runs libevent: the admin API, the mesh file watch
 * (inotify on its directory, so editors that replace the file are seen),
 * certificate renewal, and the gRPC completions handed over by the pump.
 * SIGHUP reloads the mesh file; SIGINT/SIGTERM stop cleanly.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <event2/event.h>
#include <event2/http.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>

#include "xds/cp/admin.h"
#include "xds/cp/ads.h"
#include "xds/cp/ca.h"
#include "xds/cp/cp.h"
#include "xds/cp/etcd.h"
#include "xds/cp/gen.h"
#include "xds/cp/mesh.h"
#include "xds/cp/source.h"

const double cp_lat_bounds[CP_LAT_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5
};

double cp_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cp_log(const char *level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ tern-cp: %s: %s\n",
		tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		ts.tv_nsec / 1000000, level, buf);
}

/* ---- snapshots ---- */

static void cache_clear(struct cp *cp)
{
	unsigned i;

	for (i = 0; i < cp->n_cache; i++) {
		free(cp->cache[i].key);
		snapshot_unref(cp->cache[i].snap);
	}
	cp->n_cache = 0;
}

int cp_sources_synced(const struct cp *cp)
{
	unsigned i;

	for (i = 0; i < cp->n_sources; i++)
		if (!cp->sources[i]->ops->synced(cp->sources[i]))
			return 0;
	return 1;
}

unsigned cp_registry_endpoints(void *arg, const char *service, const struct mesh_addr **out)
{
	struct cp *cp = arg;
	static struct mesh_addr *merged;
	static unsigned cap;
	unsigned i, n = 0, k, j;
	const struct mesh_addr *part;

	if (cp->n_sources == 1)
		return cp->sources[0]->ops->endpoints(cp->sources[0], service, out);
	for (i = 0; i < cp->n_sources; i++) {
		k = cp->sources[i]->ops->endpoints(cp->sources[i], service, &part);
		if (n + k > cap) {
			cap = (n + k) * 2;
			merged = realloc(merged, cap * sizeof(*merged));
			if (!merged)
				abort();
		}
		for (j = 0; j < k; j++)
			merged[n++] = part[j];
	}
	*out = merged;
	return n;
}

struct cp_snapshot *cp_snapshot_for(struct cp *cp, const struct mesh_service *svc,
				    const struct mesh_addr *inbound, const struct mesh_addr *app,
				    const struct mesh_addr *outbound, int proxyless)
{
	char key[1024];
	struct gen_input in = { .model = cp->model };
	struct gen_node node = { .svc = svc };
	struct cp_snapshot *s;
	unsigned i;

	snprintf(key, sizeof(key), "%s|%s|in=%s:%u|app=%s:%u|out=%s:%u", svc->name,
		 proxyless ? "proxyless" : "sidecar",
		 inbound->host ? inbound->host : "", inbound->port, app->host ? app->host : "", app->port,
		 outbound->host ? outbound->host : "", outbound->port);
	for (i = 0; i < cp->n_cache; i++)
		if (strcmp(cp->cache[i].key, key) == 0) {
			snapshot_ref(cp->cache[i].snap);
			return cp->cache[i].snap;
		}
	if (cp->n_sources) {
		in.endpoints = cp_registry_endpoints;
		in.endpoints_ctx = cp;
	}
	if (cp->ca && !proxyless) {
		char id[512];
		int issued;
		const struct ca_leaf *l;

		snprintf(id, sizeof(id), "spiffe://%s/%s", cp->model->trust_domain, svc->name);
		l = ca_leaf(cp->ca, id, cp->model->cert_ttl_s, &issued);
		if (issued)
			cp->stats.certs_issued++;
		if (l) {
			in.cert_pem = l->cert_pem;
			in.key_pem = l->key_pem;
			in.ca_pem = ca_cert_pem(cp->ca);
		}
	}
	node.inbound = *inbound;
	node.app = *app;
	node.outbound = *outbound;
	node.proxyless = proxyless;
	s = gen_snapshot(&in, &node, key);
	cp->stats.snapshots_built++;
	if (cp->n_cache == cp->cap_cache) {
		cp->cap_cache = cp->cap_cache ? cp->cap_cache * 2 : 16;
		cp->cache = realloc(cp->cache, cp->cap_cache * sizeof(*cp->cache));
		if (!cp->cache)
			abort();
	}
	cp->cache[cp->n_cache].key = strdup(key);
	cp->cache[cp->n_cache].snap = s;
	cp->n_cache++;
	snapshot_ref(s);
	return s;
}

static void on_change(evutil_socket_t fd, short what, void *arg)
{
	struct cp *cp = arg;

	cp->change_pending = 0;
	cp->generation++;
	cache_clear(cp);
	if (cp->model)
		ads_refresh(cp);
}

void cp_changed(struct cp *cp)
{
	if (cp->change_pending || !cp->change_ev)
		return;
	cp->change_pending = 1;
	event_active(cp->change_ev, 0, 0);
}

/* ---- the mesh file ---- */

struct watch {
	struct cp *cp;
	int fd;
	char *dir, *base;
	struct event *ev, *debounce;
};

static void reload(struct cp *cp)
{
	char err[512];
	struct mesh_model *m = mesh_load_file(cp->mesh_path, err, sizeof(err));

	if (!m) {
		cp->stats.reloads_failed++;
		snprintf(cp->last_error, sizeof(cp->last_error), "%s", err);
		cp_log("error", "%s (the previous mesh model stays)", err);
		return;
	}
	cp->stats.reloads_ok++;
	cp->last_error[0] = '\0';
	cp->loaded_at = time(NULL);
	/* snapshots in the cache were built from the old model; drop them
	 * before the model they point into goes */
	cache_clear(cp);
	mesh_model_free(cp->model);
	cp->model = m;
	cp_log("info", "mesh %s loaded: %u services, trust domain %s", cp->mesh_path, m->n_services,
	       m->trust_domain);
	cp_changed(cp);
}

static void on_debounce(evutil_socket_t fd, short what, void *arg)
{
	struct watch *w = arg;

	reload(w->cp);
}

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
	struct watch *w = arg;
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;
	int hit = 0;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		char *p = buf;

		while (p < buf + n) {
			struct inotify_event *e = (struct inotify_event *)p;

			if (e->len && strcmp(e->name, w->base) == 0)
				hit = 1;
			p += sizeof(*e) + e->len;
		}
	}
	if (hit) {
		/* a burst of events (write, close, rename) becomes one reload */
		struct timeval tv = { 0, 20000 };

		evtimer_add(w->debounce, &tv);
	}
}

static struct watch *watch_start(struct cp *cp)
{
	struct watch *w = calloc(1, sizeof(*w));
	char *d = strdup(cp->mesh_path), *b = strdup(cp->mesh_path);

	if (!w || !d || !b)
		abort();
	w->cp = cp;
	w->dir = strdup(dirname(d));
	w->base = strdup(basename(b));
	free(d);
	free(b);
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0 || inotify_add_watch(w->fd, w->dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0) {
		cp_log("warning", "inotify on %s: %s; the mesh file is reloaded on SIGHUP only",
		       w->dir, strerror(errno));
		if (w->fd >= 0)
			close(w->fd);
		w->fd = -1;
	} else {
		w->ev = event_new(cp->base, w->fd, EV_READ | EV_PERSIST, on_inotify, w);
		event_add(w->ev, NULL);
	}
	w->debounce = evtimer_new(cp->base, on_debounce, w);
	return w;
}

static void watch_stop(struct watch *w)
{
	if (w->ev)
		event_free(w->ev);
	event_free(w->debounce);
	if (w->fd >= 0)
		close(w->fd);
	free(w->dir);
	free(w->base);
	free(w);
}

/*
 * tern-cp's own xDS certificate (--xds-tls), issued from the mesh CA at start
 * and again at half its lifetime (the renew timer, main thread). gRPC asks
 * for it at each handshake through xds_tls_fetch (its own threads): the
 * mutex guards the current PEM pair and its generation; a handshake after a
 * renewal gets the new pair, connections already open keep theirs.
 */
#define XDS_TLS_TTL_S (365u * 24 * 3600)
#define XDS_TLS_TTL_MIN_S 4u

static struct {
	pthread_mutex_t mu;
	struct ca_leaf leaf;  /* the current pair (main thread writes under mu) */
	unsigned gen;         /* bumped at each issue */
	unsigned served_gen;  /* what gRPC has (read and written under mu) */
	const char *roots;    /* the mesh CA (gRPC wants roots in a fetched config,
			       * though no client certificate is asked) */
	char identity[300];
	char sans[512];
	uint32_t ttl_s;
	int on;
} xds_tls = { .mu = PTHREAD_MUTEX_INITIALIZER, .sans = "DNS:tern-cp", .ttl_s = XDS_TLS_TTL_S };

static grpc_ssl_certificate_config_reload_status xds_tls_fetch(void *arg,
							       grpc_ssl_server_certificate_config **config)
{
	grpc_ssl_certificate_config_reload_status st = GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_UNCHANGED;

	pthread_mutex_lock(&xds_tls.mu);
	if (xds_tls.served_gen != xds_tls.gen && xds_tls.leaf.cert_pem) {
		grpc_ssl_pem_key_cert_pair pair = { xds_tls.leaf.key_pem, xds_tls.leaf.cert_pem };

		*config = grpc_ssl_server_certificate_config_create(xds_tls.roots, &pair, 1); /* copies */
		xds_tls.served_gen = xds_tls.gen;
		st = GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_NEW;
	}
	pthread_mutex_unlock(&xds_tls.mu);
	return st;
}

/* Issues the next serving certificate; the old pair stays on failure. */
static int xds_tls_issue(struct cp *cp)
{
	struct ca_leaf fresh, old;

	if (ca_issue_serving(cp->ca, xds_tls.identity, xds_tls.sans, xds_tls.ttl_s, &fresh) != 0)
		return -1;
	pthread_mutex_lock(&xds_tls.mu);
	old = xds_tls.leaf;
	xds_tls.leaf = fresh;
	xds_tls.gen++;
	pthread_mutex_unlock(&xds_tls.mu);
	ca_leaf_free(&old);
	cp->stats.xds_tls_issued++;
	return 0;
}

/* ---- certificate renewal ---- */

static void on_renew(evutil_socket_t fd, short what, void *arg);

static void renew_arm(struct cp *cp, struct event *ev)
{
	time_t due = ca_due(cp->ca), now = time(NULL);
	struct timeval tv = { 1, 0 };

	if (xds_tls.on && (!due || xds_tls.leaf.renew_at < due))
		due = xds_tls.leaf.renew_at; /* main thread: the only writer */
	if (due && due > now)
		tv.tv_sec = due - now < 3600 ? due - now : 3600;
	evtimer_add(ev, &tv);
}

static void on_renew(evutil_socket_t fd, short what, void *arg)
{
	struct cp *cp = ((void **)arg)[0];
	struct event *ev = ((void **)arg)[1];
	time_t due = ca_due(cp->ca);

	/* snapshots ask the CA for their leaf; one past renew_at is re-issued
	 * while regenerating */
	if (due && due <= time(NULL))
		cp_changed(cp);
	if (xds_tls.on && xds_tls.leaf.renew_at <= time(NULL))
		(void)xds_tls_issue(cp); /* logged; retried at the next turn */
	renew_arm(cp, ev);
}

/* ---- signals ---- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct cp *cp = arg;

	if (sig == SIGHUP) {
		reload(cp);
		return;
	}
	cp_log("info", "signal %d: stopping", (int)sig);
	event_base_loopbreak(cp->base);
}

/* the server's shutdown notification */
static struct {
	struct pump_tag tag;
	int done;
} server_down;

static void on_server_down(struct pump_tag *tag, int ok)
{
	server_down.done = 1;
}

/* Appends ",<kind>:<value>" to the SAN list; false when the value is not
 * a plain name/address or the list is full. */
static int san_add(char *sans, size_t cap, const char *kind, const char *value)
{
	size_t len = strlen(sans);
	const char *p;

	if (!*value || strlen(value) > 253)
		return 0;
	for (p = value; *p; p++)
		if (!(*p == '.' || *p == '-' || *p == ':' || (*p >= '0' && *p <= '9') ||
		      (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return 0;
	return (size_t)snprintf(sans + len, cap - len, ",%s:%s", kind, value) < cap - len;
}

/* The SANs a client dialling the --xds address checks: the address itself
 * (IP or DNS), and 127.0.0.1 + localhost for a wildcard bind. */
static int xds_listen_san(const char *listen, char *sans, size_t cap)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	size_t n = colon ? (size_t)(colon - listen) : strlen(listen);
	unsigned char bin[16];

	if (n >= sizeof(host))
		return 0;
	memcpy(host, listen, n);
	host[n] = 0;
	if (host[0] == '[' && n >= 2 && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = 0;
	}
	if (!host[0] || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
		return san_add(sans, cap, "IP", "127.0.0.1") && san_add(sans, cap, "IP", "::1") &&
		       san_add(sans, cap, "DNS", "localhost");
	if (inet_pton(AF_INET, host, bin) == 1 || inet_pton(AF_INET6, host, bin) == 1)
		return san_add(sans, cap, "IP", host);
	return san_add(sans, cap, "DNS", host);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: tern-cp --mesh FILE --xds HOST:PORT --admin HOST:PORT\n"
		"               [--ca-dir DIR] [--no-mtls] [--id NAME]\n"
		"               [--xds-tls [--xds-tls-name NAME]... [--xds-tls-ttl SECONDS]]\n"
		"               [--etcd HOST:PORT [--etcd-prefix PREFIX]]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mesh", required_argument, NULL, 'm' },
		{ "xds", required_argument, NULL, 'x' },
		{ "admin", required_argument, NULL, 'a' },
		{ "ca-dir", required_argument, NULL, 'c' },
		{ "no-mtls", no_argument, NULL, 'n' },
		{ "id", required_argument, NULL, 'i' },
		{ "etcd", required_argument, NULL, 'e' },
		{ "etcd-prefix", required_argument, NULL, 'p' },
		{ "xds-tls", no_argument, NULL, 't' },
		{ "xds-tls-name", required_argument, NULL, 'T' },
		{ "xds-tls-ttl", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *xds = NULL, *admin = NULL, *ca_dir = NULL, *etcd = NULL, *etcd_prefix = "/tern/services/";
	int no_mtls = 0, c, rc = 0;
	char *end;
	unsigned long ttl;
	struct cp cp;
	struct evhttp *http = NULL;
	struct watch *watch;
	struct event *sig_int, *sig_term, *sig_hup, *renew = NULL;
	void *renew_arg[2];
	grpc_server_credentials *creds;
	char err[512];
	unsigned i;

	memset(&cp, 0, sizeof(cp));
	server_down.tag.done = on_server_down;
	cp.identifier = "tern-cp";
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': cp.mesh_path = optarg; break;
		case 'x': xds = optarg; break;
		case 'a': admin = optarg; break;
		case 'c': ca_dir = optarg; break;
		case 'n': no_mtls = 1; break;
		case 'i': cp.identifier = optarg; break;
		case 'e': etcd = optarg; break;
		case 'p': etcd_prefix = optarg; break;
		case 't': xds_tls.on = 1; break;
		case 'L':
			errno = 0;
			ttl = strtoul(optarg, &end, 10);
			if (errno || *end || ttl < XDS_TLS_TTL_MIN_S || ttl > 10u * 365 * 24 * 3600) {
				fprintf(stderr, "tern-cp: --xds-tls-ttl '%s': seconds, %u to 10 years\n",
					optarg, XDS_TLS_TTL_MIN_S);
				return 2;
			}
			xds_tls.ttl_s = (uint32_t)ttl;
			break;
		case 'T':
			if (!san_add(xds_tls.sans, sizeof(xds_tls.sans), "DNS", optarg)) {
				fprintf(stderr, "tern-cp: --xds-tls-name '%s': not a DNS name, or too many names\n", optarg);
				return 2;
			}
			break;
		default: usage(); return c == 'h' ? 0 : 2;
		}
	}
	if (!cp.mesh_path || !xds || !admin || optind != argc) {
		usage();
		return 2;
	}
	if (xds_tls.on && (no_mtls || !ca_dir)) {
		/* the sidecars verify us against the CA, so it must be on disk */
		fprintf(stderr, "tern-cp: --xds-tls needs the CA: give --ca-dir (sidecars trust "
				"<ca-dir>/ca.crt) and drop --no-mtls\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	/* the first load must succeed: there is no previous model to keep */
	cp.model = mesh_load_file(cp.mesh_path, err, sizeof(err));
	if (!cp.model) {
		fprintf(stderr, "tern-cp: %s\n", err);
		return 1;
	}
	cp.loaded_at = time(NULL);
	cp.stats.reloads_ok++;
	if (!no_mtls) {
		cp.ca = ca_open(ca_dir, err, sizeof(err));
		if (!cp.ca) {
			fprintf(stderr, "tern-cp: CA: %s\n", err);
			mesh_model_free(cp.model);
			return 1;
		}
	}

	cp.base = event_base_new();
	cp.change_ev = event_new(cp.base, -1, 0, on_change, &cp);
	grpc_init();
	cp.pump = pump_start(cp.base);
	if (!cp.pump) {
		fprintf(stderr, "tern-cp: cannot start the completion-queue thread\n");
		return 1;
	}
	cp.server = grpc_server_create(NULL, NULL);
	grpc_server_register_completion_queue(cp.server, pump_cq(cp.pump), NULL);
	ads_register(&cp);
	if (xds_tls.on) {
		if (!xds_listen_san(xds, xds_tls.sans, sizeof(xds_tls.sans))) {
			fprintf(stderr, "tern-cp: --xds %s: too many names for the certificate\n", xds);
			rc = 1;
			goto stop_grpc;
		}
		snprintf(xds_tls.identity, sizeof(xds_tls.identity), "spiffe://%s/tern-cp",
			 cp.model->trust_domain);
		xds_tls.roots = ca_cert_pem(cp.ca);
		if (xds_tls_issue(&cp) != 0) {
			fprintf(stderr, "tern-cp: cannot issue the xDS serving certificate\n");
			rc = 1;
			goto stop_grpc;
		}
		/* TLS only: a proxy proves who it is with its token (metadata);
		 * the certificate is fetched per handshake, so renewals apply */
		creds = grpc_ssl_server_credentials_create_with_options(
			grpc_ssl_server_credentials_create_options_using_config_fetcher(
				GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE, xds_tls_fetch, NULL));
	} else {
		creds = grpc_insecure_server_credentials_create();
	}
	if (!grpc_server_add_http2_port(cp.server, xds, creds)) {
		fprintf(stderr, "tern-cp: --xds %s: cannot listen\n", xds);
		grpc_server_credentials_release(creds);
		rc = 1;
		goto stop_grpc;
	}
	grpc_server_credentials_release(creds);
	grpc_server_start(cp.server);
	ads_start(&cp);

	http = admin_start(&cp, admin);
	if (!http) {
		rc = 1;
		goto stop_grpc;
	}
	if (etcd) {
		struct cp_source *s = etcd_source_start(&cp, etcd, etcd_prefix);

		if (!s) {
			rc = 1;
			goto stop_http;
		}
		cp.sources = calloc(1, sizeof(*cp.sources));
		if (!cp.sources)
			abort();
		cp.sources[cp.n_sources++] = s;
	}
	watch = watch_start(&cp);
	sig_int = evsignal_new(cp.base, SIGINT, on_signal, &cp);
	sig_term = evsignal_new(cp.base, SIGTERM, on_signal, &cp);
	sig_hup = evsignal_new(cp.base, SIGHUP, on_signal, &cp);
	event_add(sig_int, NULL);
	event_add(sig_term, NULL);
	event_add(sig_hup, NULL);
	if (cp.ca) {
		renew = evtimer_new(cp.base, on_renew, renew_arg);
		renew_arg[0] = &cp;
		renew_arg[1] = renew;
		renew_arm(&cp, renew);
	}
	cp_changed(&cp);
	cp_log("info", "ready: xds %s, admin %s, mesh %s, %s", xds, admin, cp.mesh_path,
	       cp.ca ? "mTLS with tern-cp's CA" : "no mTLS");

	event_base_dispatch(cp.base);

	/* stop: no new work, cancel every stream and source call, let gRPC
	 * report them, then take the queue down */
	event_free(sig_int);
	event_free(sig_term);
	event_free(sig_hup);
	if (renew)
		event_free(renew);
	watch_stop(watch);
stop_http:
	for (i = 0; i < cp.n_sources; i++)
		cp.sources[i]->ops->stop(cp.sources[i]);
	evhttp_free(http);
stop_grpc:
	cp.stopping = 1;
	grpc_server_shutdown_and_notify(cp.server, pump_cq(cp.pump), &server_down.tag);
	grpc_server_cancel_all_calls(cp.server);
	ads_cancel_all(&cp);
	while (!server_down.done)
		event_base_loop(cp.base, EVLOOP_ONCE);
	grpc_server_destroy(cp.server);
	/* every stream has been freed by its last completion */
	pump_stop(cp.pump);
	grpc_shutdown();
	cache_clear(&cp);
	free(cp.cache);
	free(cp.sources);
	event_free(cp.change_ev);
	event_base_free(cp.base);
	ca_leaf_free(&xds_tls.leaf);
	ca_free(cp.ca);
	mesh_model_free(cp.model);
	return rc;
}
