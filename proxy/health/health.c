/*
 * health.c: the checker's scheduler (see health.h). It owns one
 * `struct check_target` per checked endpoint: a timer, the params of its
 * check and at most one in-flight check (a new check is only armed once the
 * previous one has reported, so one endpoint never has two checks at once).
 *
 * Cadence: checks start at first_offset + k * inter. When a check outlasts
 * its interval the missed starts are skipped, not run back to back. The
 * first offset is random within inter, so a config with many servers does
 * not check them all in the same millisecond.
 *
 * All of this runs on the main thread: ep->hc (counter, counters, last
 * status) is written here only; ep->up is atomic because workers read it.
 */
#include "proxy/health/health.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/core/log.h"
#include "proxy/core/util.h"
#include "proxy/health/health_check.h"
#include "proxy/health/health_state.h"
#include "proxy/model/model.h"
#include "proxy/tls/tls_conf.h"

#define DEFAULT_INTER_MS 2000

struct check_target {
    struct endpoint *ep;
    struct event timer;
    struct health_check *inflight; /* NULL between checks */
    uint64_t started_ms;           /* start of the current or last check */
    uint32_t inter_ms;
    struct health_check_params params;
};

static struct {
    bool running;
    struct event_base *base;
    struct snapshot *snap;
    uint32_t nworkers;
    void (*publish)(struct cluster *c);
    struct check_target *targets;
    size_t ntargets;
    uint64_t rng;
} checker;

static void on_timer(evutil_socket_t fd, short what, void *arg);

static void arm_timer(struct check_target *t, uint64_t delay_ms)
{
    struct timeval tv = {
        .tv_sec = (time_t)(delay_ms / 1000),
        .tv_usec = (suseconds_t)((delay_ms % 1000) * 1000),
    };

    t->ep->hc.next_check_ms = tern_now_ms() + delay_ms;
    evtimer_add(&t->timer, &tv);
}

/* Counts the enabled, up endpoints of c: active ones and backups. */
static void count_up(const struct cluster *c, uint32_t *active, uint32_t *backup)
{
    *active = *backup = 0;
    for (uint32_t i = 0; i < c->nendpoints; i++) {
        const struct endpoint *ep = c->endpoints[i];
        if (ep->disabled || !atomic_load(&((struct endpoint *)ep)->up))
            continue;
        if (ep->backup)
            (*backup)++;
        else
            (*active)++;
    }
}

/* HAProxy's short status names, for last_status. */
static const char *status_tag(const struct health_check_result *r, enum health_check_type type,
                              bool tls)
{
    switch (r->code) {
    case HEALTH_OK: return type == HC_HTTP || type == HC_GRPC ? "L7OK" : tls ? "L6OK" : "L4OK";
    case HEALTH_ERR_SOCKET: return "SOCKERR";
    case HEALTH_ERR_REFUSED:
    case HEALTH_ERR_CONNECT: return "L4CON";
    case HEALTH_ERR_CONNECT_TIMEOUT: return "L4TOUT";
    case HEALTH_ERR_READ_TIMEOUT: return "L7TOUT";
    case HEALTH_ERR_CLOSED:
    case HEALTH_ERR_BAD_RESPONSE: return "L7RSP";
    case HEALTH_ERR_BAD_STATUS: return "L7STS";
    case HEALTH_ERR_TLS: return "L6RSP";
    case HEALTH_ERR_TLS_TIMEOUT: return "L6TOUT";
    }
    return "?";
}

/* "reason: ..., code: N, info: "..."" as HAProxy words it. */
static void describe(char *buf, size_t len, const struct health_check_result *r,
                     enum health_check_type type, bool tls)
{
    int n = snprintf(buf, len, "reason: %s", health_check_reason(r, type, tls));

    if (n < 0 || (size_t)n >= len)
        return;
    if (r->status)
        n += snprintf(buf + n, len - (size_t)n, ", code: %d", r->status);
    if (n < 0 || (size_t)n >= len)
        return;
    if (r->info[0] && (r->code != HEALTH_OK || r->status))
        snprintf(buf + n, len - (size_t)n, ", info: \"%s\"", r->info);
}

static void rebuild_and_publish(struct cluster *c)
{
    char err[256];

    if (!cluster_rebuild_hosts(c, checker.nworkers, err, sizeof(err))) {
        log_err("health: backend %s: cannot rebuild its host set: %s", c->name, err);
        return;
    }
    if (checker.publish)
        checker.publish(c);
}

static void on_check_done(const struct health_check_result *r, void *arg)
{
    struct check_target *t = arg;
    struct endpoint *ep = t->ep;
    struct cluster *c = ep->cluster;
    enum health_check_type type = t->params.type;
    bool tls = t->params.tls != NULL;
    bool ok = r->code == HEALTH_OK;
    uint32_t before = ep->hc.health;
    enum health_transition tr;
    char why[200];
    uint64_t now, next;

    t->inflight = NULL;
    counter_add(&ep->hc.checks_total, 1);
    if (!ok)
        counter_add(&ep->hc.checks_failed, 1);

    if (r->status)
        snprintf(ep->hc.last_status, sizeof(ep->hc.last_status), "%s %d in %llums",
                 status_tag(r, type, tls), r->status, (unsigned long long)r->duration_ms);
    else if (ok)
        snprintf(ep->hc.last_status, sizeof(ep->hc.last_status), "%s in %llums",
                 status_tag(r, type, tls), (unsigned long long)r->duration_ms);
    else
        /* truncated on purpose: last_status is a short summary */
        snprintf(ep->hc.last_status, sizeof(ep->hc.last_status), "%s: %.*s",
                 status_tag(r, type, tls), (int)sizeof(ep->hc.last_status) - 10, r->info);

    tr = health_state_update(&ep->hc.health, ep->rise, ep->fall, ok);
    describe(why, sizeof(why), r, type, tls);
    if (tr != HEALTH_TRANSITION_NONE) {
        uint32_t active, backup;

        atomic_store(&ep->up, tr == HEALTH_TRANSITION_UP ? 1 : 0);
        counter_add(tr == HEALTH_TRANSITION_UP ? &ep->hc.went_up : &ep->hc.went_down, 1);
        count_up(c, &active, &backup);
        if (tr == HEALTH_TRANSITION_UP)
            log_notice("Server %s/%s is UP, %s, check duration: %llums. %u active and %u "
                       "backup servers online.",
                       c->name, ep->name, why, (unsigned long long)r->duration_ms, active,
                       backup);
        else
            log_warn("Server %s/%s is DOWN, %s, check duration: %llums. %u active and %u "
                     "backup servers left.",
                     c->name, ep->name, why, (unsigned long long)r->duration_ms, active, backup);
        if (active == 0 && backup == 0)
            log_err("backend %s has no server available!", c->name);
        rebuild_and_publish(c);
    } else if (ep->hc.health != before) {
        /* HAProxy reports each step of the counter, not only transitions. */
        bool up = health_state_is_up(ep->hc.health, ep->rise);
        uint32_t rise = ep->rise ? ep->rise : 1, fall = ep->fall ? ep->fall : 1;
        log_info("Health check for server %s/%s %s, %s, check duration: %llums, status: "
                 "%u/%u %s.",
                 c->name, ep->name, ok ? "succeeded" : "failed", why,
                 (unsigned long long)r->duration_ms,
                 up ? ep->hc.health - rise + 1 : ep->hc.health, up ? fall : rise,
                 up ? "UP" : "DOWN");
    }

    /* Keep the cadence of started_ms + k * inter, skipping missed starts. */
    now = tern_now_ms();
    next = t->started_ms + t->inter_ms;
    if (next <= now)
        next += ((now - next) / t->inter_ms + 1) * t->inter_ms;
    arm_timer(t, next - now);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct check_target *t = arg;
    struct endpoint *ep = t->ep;

    if (t->inflight) /* cannot happen: the timer is armed on completion */
        return;
    if (atomic_load(&ep->admin_state) == ENDPOINT_MAINT) {
        /* maintenance (admin API): no check until the server is ready again;
         * its state and counters stay as they were */
        snprintf(ep->hc.last_status, sizeof(ep->hc.last_status), "MAINT");
        arm_timer(t, t->inter_ms);
        return;
    }
    t->started_ms = tern_now_ms();
    t->inflight = health_check_start(checker.base, (const struct sockaddr *)&ep->addr,
                                     ep->addrlen, &t->params, on_check_done, t);
}

int health_start(struct event_base *base, struct snapshot *snap, uint32_t nworkers,
                 void (*publish)(struct cluster *c))
{
    size_t n = 0;

    if (checker.running)
        return -1;
    memset(&checker, 0, sizeof(checker));
    checker.running = true;
    checker.base = base;
    checker.snap = snap;
    checker.nworkers = nworkers;
    checker.publish = publish;
    checker.rng = (tern_now_us() ^ ((uint64_t)getpid() << 32)) | 1;

    for (uint32_t i = 0; i < snap->nclusters; i++)
        for (uint32_t j = 0; j < snap->clusters[i]->nendpoints; j++)
            if (snap->clusters[i]->endpoints[j]->check && !snap->clusters[i]->endpoints[j]->disabled)
                n++;
    checker.targets = tern_calloc(n ? n : 1, sizeof(*checker.targets));

    for (uint32_t i = 0; i < snap->nclusters; i++) {
        struct cluster *c = snap->clusters[i];
        for (uint32_t j = 0; j < c->nendpoints; j++) {
            struct endpoint *ep = c->endpoints[j];
            struct check_target *t;

            if (!ep->check || ep->disabled)
                continue;
            t = &checker.targets[checker.ntargets++];
            t->ep = ep;
            t->inter_ms = ep->inter_ms ? ep->inter_ms : DEFAULT_INTER_MS;
            t->params.type = c->hc.type == HC_HTTP || c->hc.type == HC_GRPC ? c->hc.type : HC_TCP;
            t->params.service = c->hc.service;
            t->params.method = c->hc.method;
            t->params.uri = c->hc.uri;
            t->params.version = c->hc.version;
            t->params.expect_status = c->hc.expect_status;
            t->params.connect_timeout_ms =
                c->hc.connect_timeout_ms ? c->hc.connect_timeout_ms : t->inter_ms;
            t->params.timeout_ms = c->hc.timeout_ms ? c->hc.timeout_ms : t->inter_ms;
            /* HAProxy: a server with `ssl` is checked over TLS (its checks go
             * to the traffic port: tern has no `port`/`addr`), with the
             * server's TLS settings; the SNI is `check-sni`, never `sni`
             * (which only applies to proxied traffic). */
            if (ep->tls) {
                t->params.tls = ep->tls->ctx;
                t->params.sni = ep->tls->check_sni;
            }
            ep->hc.check = t;
            evtimer_assign(&t->timer, base, on_timer, t);
            arm_timer(t, tern_rand_next(&checker.rng) % t->inter_ms);
        }
    }
    return (int)checker.ntargets;
}

void health_stop(void)
{
    if (!checker.running)
        return;
    for (size_t i = 0; i < checker.ntargets; i++) {
        struct check_target *t = &checker.targets[i];
        evtimer_del(&t->timer);
        health_check_cancel(t->inflight);
        t->inflight = NULL;
        t->ep->hc.check = NULL;
    }
    free(checker.targets);
    memset(&checker, 0, sizeof(checker));
}
