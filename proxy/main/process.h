/*
 * process.h: the process-wide state the main thread owns: the current
 * configuration, the life-cycle state and the main event loop. Workers do not
 * read it; the admin API, the health checker and signal handlers (all on the
 * main thread) do.
 */
#ifndef TERN_PROCESS_H
#define TERN_PROCESS_H

#include <stdint.h>
#include <time.h>

struct event_base;
struct snapshot;

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
};

/* The one instance; main thread only. */
extern struct tern_process tern_proc;

#endif /* TERN_PROCESS_H */
