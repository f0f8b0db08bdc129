/*
 * main.c: tern's entry point and the main thread.
 *
 * The main thread parses the configuration, opens every listening socket
 * (so any error is reported before anything serves), starts the workers,
 * then runs its own event loop for the control plane of the process: the
 * health checker, the admin API and the signals that stop tern.
 *
 * Stopping (HAProxy's soft stop; SIGTERM and SIGUSR1 both, see README):
 *   1. /ready answers 503; listeners keep accepting for `grace`;
 *   2. listeners close: new connections are refused by the kernel;
 *   3. in-flight connections finish; at `hard-stop-after` (from the signal)
 *      the rest are closed;
 *   4. exit 0.
 * SIGINT, or a second SIGTERM/SIGUSR1, stops at once.
 *
 * SIGHUP reloads the file (apply.c): a file with any error changes nothing
 * and the errors are logged; a good one replaces the running configuration
 * without closing connections (see process_apply).
 */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "filters/registry.h"
#include "proxy/admin/admin.h"
#include "proxy/config/cfg_parse.h"
#include "proxy/core/log.h"
#include "proxy/core/util.h"
#include "proxy/health/health.h"
#include "proxy/http/http.h"
#include "proxy/main/process.h"
#include "proxy/model/model.h"
#include "proxy/tls/tls_conf.h"
#include "proxy/worker/worker.h"

#define DRAIN_POLL_MS 50
/* File descriptors kept aside for the admin API, health checks and logs. */
#define FD_RESERVE 64

struct tern_process tern_proc;

static struct event *ev_grace, *ev_drain_poll, *ev_hard_stop;
static struct event *ev_sigs[4];
static struct event *ev_tls_poll;

static void tls_poll_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)arg;
    workers_poll_tls(tern_proc.snap); /* the current one: a reload replaces it */
}
static bool stopping;
static const char *cfg_file;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: tern -f <config file> [-c] [-d] [-v]\n"
            "  -f FILE  configuration file (HAProxy syntax); runs in the foreground\n"
            "  -c       check the configuration and exit (0: valid, 1: errors)\n"
            "  -d       debug logging\n"
            "  -v       print the version and exit\n");
}

/* ---- stopping ---------------------------------------------------------------- */

static void finish(const char *why)
{
    log_notice("stopping: %s", why);
    event_base_loopexit(tern_proc.base, NULL);
}

static void drain_poll_cb(evutil_socket_t fd, short what, void *arg)
{
    if (workers_active_conns() == 0)
        finish("all connections finished");
}

static void stop_accepting(void)
{
    struct timeval tv = {0, DRAIN_POLL_MS * 1000};

    log_notice("closing listeners; %llu connection(s) in flight",
               (unsigned long long)workers_active_conns());
    workers_stop_accepting();
    ev_drain_poll = event_new(tern_proc.base, -1, EV_PERSIST, drain_poll_cb, NULL);
    event_add(ev_drain_poll, &tv);
}

static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
    stop_accepting();
}

static void hard_stop_cb(evutil_socket_t fd, short what, void *arg)
{
    log_warn("hard-stop-after expired: closing %llu remaining connection(s)",
             (unsigned long long)workers_active_conns());
    finish("hard-stop-after");
}

static void soft_stop(int sig)
{
    const struct model_global *g = &tern_proc.snap->global;

    if (stopping) {
        finish("second stop signal");
        return;
    }
    stopping = true;
    tern_proc.state = PROC_DRAINING;
    log_notice("%s received: soft stop (grace %ums, hard-stop-after %s)", strsignal(sig),
               g->grace_ms, g->hard_stop_after_ms ? "set" : "none");
    if (g->hard_stop_after_ms) {
        struct timeval tv = {g->hard_stop_after_ms / 1000, (g->hard_stop_after_ms % 1000) * 1000};
        ev_hard_stop = evtimer_new(tern_proc.base, hard_stop_cb, NULL);
        evtimer_add(ev_hard_stop, &tv);
    }
    if (g->grace_ms) {
        struct timeval tv = {g->grace_ms / 1000, (g->grace_ms % 1000) * 1000};
        ev_grace = evtimer_new(tern_proc.base, grace_cb, NULL);
        evtimer_add(ev_grace, &tv);
    } else {
        stop_accepting();
    }
}

/* HAProxy's reload, in the process: the removed and rebound listeners drain
 * for at most hard-stop-after, as HAProxy's old process would. */
static void reload(void)
{
    struct cfg_diag d = {0};
    struct snapshot *snap;
    char err[8192];

    log_notice("SIGHUP received: reloading '%s'", cfg_file);
    if (process_xds_running()) {
        if (process_xds_reload(cfg_file, err, sizeof(err)) != 0)
            log_err("reload: %s; the running configuration is unchanged", err);
        return;
    }
    snap = cfg_parse_file(cfg_file, &d);
    for (size_t i = 0; i < d.nwarnings; i++)
        log_warn("reload: %s", d.warnings[i]);
    for (size_t i = 0; i < d.nerrors; i++)
        log_err("reload: %s", d.errors[i]);
    if (!snap) {
        log_err("reload: '%s' has %zu error(s); the running configuration is unchanged",
                cfg_file, d.nerrors);
        cfg_diag_free(&d);
        return;
    }
    cfg_diag_free(&d);
    if (snap->xds.enabled) {
        log_err("reload: %s:%d: xds: a control plane cannot be added while tern runs; restart "
                "tern; the running configuration is unchanged", snap->xds.loc.file,
                snap->xds.loc.line);
        snapshot_unref(snap);
        return;
    }
    if (process_apply(snap, snap->global.hard_stop_after_ms, err, sizeof(err)) != 0)
        log_err("reload: %s; the running configuration is unchanged", err);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    if (sig == SIGHUP) {
        if (stopping)
            log_warn("SIGHUP ignored: tern is stopping");
        else
            reload();
        return;
    }
    if (sig == SIGINT) {
        finish("SIGINT");
        return;
    }
    soft_stop((int)sig);
}

/* ---- start-up ---------------------------------------------------------------- */

/* libevent's own messages go to the process log, in its format. */
static void libevent_log_cb(int severity, const char *msg)
{
    switch (severity) {
    case EVENT_LOG_DEBUG: log_debug("libevent: %s", msg); break;
    case EVENT_LOG_MSG: log_info("libevent: %s", msg); break;
    case EVENT_LOG_WARN: log_warn("libevent: %s", msg); break;
    default: log_err("libevent: %s", msg); break;
    }
}

static void print_diag(const struct cfg_diag *d)
{
    for (size_t i = 0; i < d->nwarnings; i++)
        fprintf(stderr, "[WARNING] %s\n", d->warnings[i]);
    for (size_t i = 0; i < d->nerrors; i++)
        fprintf(stderr, "[ALERT] %s\n", d->errors[i]);
}

static int check_only(const char *path)
{
    struct cfg_diag d = {0};
    struct snapshot *snap = cfg_parse_file(path, &d);

    print_diag(&d);
    if (!snap) {
        fprintf(stderr, "Configuration file '%s' has %zu error(s)\n", path, d.nerrors);
        cfg_diag_free(&d);
        return 1;
    }
    cfg_diag_free(&d);
    snapshot_unref(snap);
    printf("Configuration file is valid\n");
    return 0;
}

int main(int argc, char **argv)
{
    const char *cfg_path = NULL;
    bool check = false;
    struct cfg_diag d = {0};
    struct snapshot *snap;
    char err[8192];
    int opt;
    long ncpu;

    while ((opt = getopt(argc, argv, "f:cdvh")) != -1) {
        switch (opt) {
        case 'f': cfg_path = optarg; break;
        case 'c': check = true; break;
        case 'd': tern_log_set_level(TERN_LOG_DEBUG); break;
        case 'v': printf("tern version %s\n", TERN_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tern: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!cfg_path) {
        fprintf(stderr, "tern: no configuration file (-f FILE)\n");
        usage(stderr);
        return 2;
    }
    /* the filters tern ships, before any configuration names one */
    filter_registry_init();
    if (check)
        return check_only(cfg_path);
    cfg_file = cfg_path;

    snap = cfg_parse_file(cfg_path, &d);
    print_diag(&d);
    if (!snap) {
        fprintf(stderr, "Configuration file '%s' has %zu error(s); not starting\n", cfg_path,
                d.nerrors);
        cfg_diag_free(&d);
        return 1;
    }
    cfg_diag_free(&d);

    signal(SIGPIPE, SIG_IGN);
    event_set_log_callback(libevent_log_cb);
    process_size_fd_limit(&snap->global);
    ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    tern_proc.nworkers = snap->global.nbthread ? snap->global.nbthread
                                               : (uint32_t)(ncpu > 0 ? ncpu : 1);
    tern_proc.snap = snap;
    tern_proc.start_ms = tern_now_ms();
    tern_proc.start_wall = time(NULL);
    tern_proc.state = PROC_STARTING;

    if (snapshot_runtime_init(snap, tern_proc.nworkers, err, sizeof(err)) != 0) {
        fprintf(stderr, "[ALERT] %s\n", err);
        snapshot_unref(snap);
        return 1;
    }
    err[0] = 0;
    if (workers_bind(snap, tern_proc.nworkers, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s", err);
        fprintf(stderr, "Cannot bind every listener; not starting\n");
        workers_shutdown();
        snapshot_unref(snap);
        return 1;
    }

    tern_proc.base = event_base_new();
    if (!tern_proc.base)
        tern_panic(__FILE__, __LINE__, "cannot create the main event loop");
    if (snap->global.has_admin &&
        admin_start(tern_proc.base, (const struct sockaddr *)&snap->global.admin_addr,
                    snap->global.admin_addrlen, err, sizeof(err)) != 0) {
        fprintf(stderr, "[ALERT] admin: %s\n", err);
        workers_shutdown();
        event_base_free(tern_proc.base);
        snapshot_unref(snap);
        return 1;
    }
    {
        static const int sigs[] = {SIGTERM, SIGUSR1, SIGINT, SIGHUP};
        for (size_t i = 0; i < TERN_ARRAY_SIZE(sigs); i++) {
            ev_sigs[i] = evsignal_new(tern_proc.base, sigs[i], signal_cb, NULL);
            event_add(ev_sigs[i], NULL);
        }
    }
    workers_set_http_ops(&http_mode_ops);
    if (workers_start(snap) != 0) {
        workers_shutdown();
        return 1;
    }
    health_start(tern_proc.base, snap, tern_proc.nworkers, workers_publish_hosts);
    {
        /* certificate rotation and ticket keys (proxy/tls/tls_conf.h) */
        struct timeval tv = {TLS_POLL_MS / 1000, (TLS_POLL_MS % 1000) * 1000};
        ev_tls_poll = event_new(tern_proc.base, -1, EV_PERSIST, tls_poll_cb, NULL);
        event_add(ev_tls_poll, &tv);
    }
    tern_proc.state = PROC_READY;
    if (process_xds_start(cfg_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "[ALERT] %s\n", err);
        health_stop();
        workers_shutdown();
        return 1;
    }
    log_notice("tern ready: %u worker(s), %u listener(s), %u cluster(s), maxconn %u",
               tern_proc.nworkers, snap->nlisteners, snap->nclusters, snap->global.maxconn);

    event_base_dispatch(tern_proc.base);

    process_xds_stop();
    snap = tern_proc.snap; /* a reload may have replaced it */
    health_stop();
    event_free(ev_tls_poll);
    workers_shutdown();
    process_apply_fini();
    if (snap->global.has_admin)
        admin_stop();
    for (size_t i = 0; i < TERN_ARRAY_SIZE(ev_sigs); i++)
        if (ev_sigs[i])
            event_free(ev_sigs[i]);
    if (ev_grace)
        event_free(ev_grace);
    if (ev_drain_poll)
        event_free(ev_drain_poll);
    if (ev_hard_stop)
        event_free(ev_hard_stop);
    event_base_free(tern_proc.base);
    snapshot_unref(snap);
    log_notice("exited");
    return 0;
}
