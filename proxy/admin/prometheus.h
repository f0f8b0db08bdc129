/*
 * prometheus.h: tern's metrics in the Prometheus text exposition format
 * 0.0.4, rendered from a snapshot and process-wide numbers.
 *
 * Every family gets "# HELP" and "# TYPE" lines; counters end in _total;
 * label values are escaped (backslash, double quote, newline). Per-worker
 * stats slots are summed here, at scrape time: gauges are per-worker deltas,
 * so their sum is read as a signed value.
 *
 * Families (labels):
 *   tern_frontend_*  {proxy="<frontend>"}
 *   tern_backend_*   {proxy="<backend>"}
 *   tern_server_*    {proxy="<backend>",server="<server>"}
 *   tern_process_*, tern_build_info{version}
 *   what filters report (http_filter_ops.metrics) {proxy="<frontend>",index="<n>"}
 * (The full list is in README.md, "Admin API".)
 *
 * Thread: any thread that may read the snapshot's runtime fields (the main
 * thread in tern). The output only grows `out`.
 */
#ifndef TERN_ADMIN_PROMETHEUS_H
#define TERN_ADMIN_PROMETHEUS_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct snapshot;

/* Process-wide numbers, gathered by the caller (admin.c sums the workers). */
struct prometheus_process {
    double uptime_seconds;
    double start_time_seconds; /* Unix time */
    uint32_t workers;
    int64_t cur_conns;
    uint64_t conns_total;
    uint64_t accept_paused;
    uint64_t log_dropped;
    uint64_t queue_full;
};

#define PROMETHEUS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Renders every family for `snap` (NULL: process families only) and `proc`
 * into out. Per-worker slots are read for w < snap->nworkers. */
void prometheus_render(struct evbuffer *out, const struct snapshot *snap,
                       const struct prometheus_process *proc);

/* Appends `s` as an escaped label value (without the quotes). */
void prometheus_escape_label(struct evbuffer *out, const char *s);

#endif /* TERN_ADMIN_PROMETHEUS_H */
