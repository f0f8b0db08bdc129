/*
 * process.h: the process-wide state the main thread owns: the current
 * configuration, the life-cycle state and the main event loop. Workers do not
 * read it; the admin API, the health checker and signal handlers (all on the
 * main thread) do.
 */
#ifndef TERN_PROCESS_H
#define TERN_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event_base;
struct evbuffer;
struct snapshot;

/* What the xDS client shows on the admin API (main.c installs it when the
 * file has an xds section; NULL otherwise). Main thread. */
struct tern_xds_pages {
    /* /ready: false while the initial resources are awaited; detail: one
     * line on the control plane's state */
    bool (*ready)(char *detail, size_t len);
    void (*config_dump)(struct evbuffer *out); /* GET /config_dump (JSON) */
    void (*metrics)(struct evbuffer *out);     /* appended to /stats/prometheus */
};

enum proc_state {
    PROC_STARTING = 0, /* config applied, listeners not yet serving */
    PROC_READY,        /* serving */
    PROC_DRAINING,     /* stop requested: /ready answers 503 */
};

struct tern_process {
    struct event_base *base;  /* main thread's loop */
    struct snapshot *snap;    /* current configuration (owned reference) */
    uint32_t nworkers;
    enum proc_state state;
    uint64_t start_ms;        /* monotonic */
    time_t start_wall;        /* wall clock, for the start-time metric */
    const struct tern_xds_pages *xds; /* NULL: no xds section */
};

/* The one instance; main thread only. */
extern struct tern_process tern_proc;

struct model_global;

/* Raises the fd limit to what g->maxconn needs and derives maxconn from the
 * limit when unset (apply.c). */
void process_size_fd_limit(struct model_global *g);

/*
 * Makes `snap` (parsed and validated, not yet runtime-initialised; the
 * reference is taken, whatever the result) the running configuration:
 * globals that cannot change while running are checked, clusters that did
 * not change are taken over with their state (snapshot_take_over), the rest
 * initialised, listeners' sockets opened, and the snapshot posted to the
 * workers (workers_swap: removed and rebound listeners drain, with a limit
 * of drain_ms, 0: none); the health checker moves to it. On failure nothing
 * changed and err says why. Returns 0 or -1. Main thread, while serving.
 */
int process_apply(struct snapshot *snap, uint32_t drain_ms, char *err, size_t errlen);

/* The snapshots process_apply replaced are released by the main thread once
 * the workers let go of them (see apply.c); at exit, after workers_shutdown
 * and before the main loop is freed, this releases what is left. */
void process_apply_fini(void);

/*
 * The xDS client (xds_glue.c), when the running configuration has an xds
 * section. process_xds_start: after the file's snapshot serves; keeps the
 * file's text (the static part of every xDS snapshot) and starts the client.
 * process_xds_reload (SIGHUP): the file again, as the new static part,
 * rebuilt with the dynamic resources and applied; the xds section itself
 * cannot change. Both return 0, or -1 with err set (nothing changed).
 * Main thread.
 */
int process_xds_start(const char *path, char *err, size_t errlen);
int process_xds_reload(const char *path, char *err, size_t errlen);
bool process_xds_running(void);
void process_xds_stop(void);

#endif /* TERN_PROCESS_H */
