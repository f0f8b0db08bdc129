/*
 * worker.c: worker threads, their listening sockets and their message queue.
 *
 * Life of a worker:
 *   workers_bind()   main thread: one SO_REUSEPORT socket per bind per worker,
 *                    so bind errors are reported before anything runs;
 *   workers_start()  one thread per worker, each running its own event_base;
 *   messages         the main thread posts MSG_HOSTSET / MSG_STOP_ACCEPT /
 *                    MSG_EXIT; the worker drains them when its eventfd fires;
 *   workers_shutdown() MSG_EXIT, then join.
 *
 * The kernel spreads new connections over the workers' sockets; after
 * accept(2) a connection never leaves its worker. Accepting pauses (the socket
 * stays open and the kernel keeps the backlog) when maxconn is reached or the
 * process is out of file descriptors, and resumes when a connection closes or
 * after a short back-off.
 */
#include "proxy/worker/worker.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/acl/acl.h"
#include "proxy/core/log.h"
#include "proxy/core/util.h"
#include "proxy/lb/lb.h"
#include "proxy/model/model.h"
#include "proxy/worker/worker_types.h"

#define ACCEPT_BURST 64
#define ACCEPT_BACKOFF_MS 100
#define LISTEN_BACKLOG 1024
#define ACCESSLOG_BUF (64 * 1024)
#define POOL_MAX_FREE 256

static struct worker **workers;
static uint32_t nworkers;
static const struct worker_mode_ops *http_ops; /* set by main before the workers start */
static _Atomic int64_t proc_conns; /* all workers, for global maxconn */
static uint32_t proc_maxconn;

uint64_t worker_now_ms(struct worker *w)
{
    struct timeval tv;
    event_base_gettimeofday_cached(w->base, &tv);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

uint32_t workers_count(void)
{
    return nworkers;
}

const struct worker_stats *workers_stats(uint32_t w)
{
    return &workers[w]->stats;
}

uint64_t workers_active_conns(void)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < nworkers; i++)
        n += atomic_load_explicit(&workers[i]->nconns_shared, memory_order_relaxed);
    return n;
}

/* ---- listening sockets ---------------------------------------------------- */

static int open_listener(const struct bind_addr *b, char *why, size_t whylen)
{
    int one = 1;
    int fd = socket(b->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        snprintf(why, whylen, "socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
        snprintf(why, whylen, "SO_REUSEPORT: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (b->addr.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    /* Accepted sockets inherit TCP_NODELAY: one setsockopt per listener
     * instead of one per connection. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&b->addr, b->addrlen) != 0) {
        int e = errno;
        snprintf(why, whylen, "%s%s", strerror(e),
                 e == EADDRINUSE    ? " (another process listens on this port)"
                 : e == EACCES      ? " (ports below 1024 need privileges)"
                 : e == EADDRNOTAVAIL ? " (no local interface has this address)"
                                    : "");
        close(fd);
        return -1;
    }
    if (listen(fd, LISTEN_BACKLOG) != 0) {
        snprintf(why, whylen, "listen: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void append_err(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void append_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
    size_t used = strlen(errbuf);
    va_list ap;
    if (used >= errlen - 1)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf + used, errlen - used, fmt, ap);
    va_end(ap);
}

int workers_bind(struct snapshot *snap, uint32_t n, char *errbuf, size_t errlen)
{
    int failures = 0;

    nworkers = n;
    proc_maxconn = snap->global.maxconn;
    workers = tern_calloc(n, sizeof(*workers));
    for (uint32_t i = 0; i < n; i++) {
        struct worker *w = tern_calloc(1, sizeof(*w));
        w->id = i;
        w->mq_fd = -1;
        workers[i] = w;
        for (uint32_t li = 0; li < snap->nlisteners; li++)
            w->nlisteners += snap->listeners[li]->nbinds;
        w->listeners = tern_calloc(w->nlisteners ? w->nlisteners : 1, sizeof(*w->listeners));
        uint32_t k = 0;
        for (uint32_t li = 0; li < snap->nlisteners; li++) {
            struct listener *l = snap->listeners[li];
            for (uint32_t b = 0; b < l->nbinds; b++, k++) {
                struct worker_listener *wl = &w->listeners[k];
                char why[256], addr[80];
                wl->w = w;
                wl->l = l;
                wl->bind = &l->binds[b];
                wl->fd = -1;
                if (failures && i > 0)
                    continue;
                wl->fd = open_listener(&l->binds[b], why, sizeof(why));
                if (wl->fd < 0 && i == 0) {
                    failures++;
                    append_err(errbuf, errlen, "%s:%d: bind: cannot bind %s for '%s': %s\n",
                               l->binds[b].loc.file ? l->binds[b].loc.file : snap->source,
                               l->binds[b].loc.line,
                               tern_format_addr((const struct sockaddr *)&l->binds[b].addr, addr,
                                                sizeof(addr)),
                               l->name, why);
                } else if (wl->fd < 0) {
                    failures++;
                    append_err(errbuf, errlen, "%s:%d: bind: cannot open socket %u of %s: %s\n",
                               l->binds[b].loc.file ? l->binds[b].loc.file : snap->source,
                               l->binds[b].loc.line, i + 1,
                               tern_format_addr((const struct sockaddr *)&l->binds[b].addr, addr,
                                                sizeof(addr)),
                               why);
                }
            }
        }
    }
    return failures;
}

static void listener_pause(struct worker_listener *wl)
{
    if (!wl->paused && wl->fd >= 0) {
        event_del(&wl->ev);
        wl->paused = true;
    }
}

static void arm_resume(struct worker *w)
{
    if (!w->resume_armed) {
        struct timeval tv = {0, ACCEPT_BACKOFF_MS * 1000};
        w->resume_armed = true;
        evtimer_add(&w->resume_ev, &tv);
    }
}

static void listeners_resume(struct worker *w)
{
    if (w->stopping)
        return;
    for (uint32_t i = 0; i < w->nlisteners; i++) {
        struct worker_listener *wl = &w->listeners[i];
        if (wl->paused && wl->fd >= 0) {
            wl->paused = false;
            event_add(&wl->ev, NULL);
        }
    }
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    w->resume_armed = false;
    listeners_resume(w);
}

static bool at_maxconn(const struct listener *l)
{
    uint32_t lmax = l->maxconn ? l->maxconn : proc_maxconn;
    if (proc_maxconn && atomic_load_explicit(&proc_conns, memory_order_relaxed) >= proc_maxconn)
        return true;
    return lmax && (uint32_t)atomic_load_explicit(&((struct listener *)l)->cur_conns,
                                                  memory_order_relaxed) >= lmax;
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
    struct worker_listener *wl = arg;
    struct worker *w = wl->w;

    for (int i = 0; i < ACCEPT_BURST; i++) {
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof(ss);
        int fd;

        if (at_maxconn(wl->l)) {
            /* Leave the rest in the kernel's backlog, as HAProxy does. */
            listener_pause(wl);
            arm_resume(w);
            return;
        }
        fd = accept4(lfd, (struct sockaddr *)&ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                uint64_t now = worker_now_ms(w);
                counter_add(&w->stats.accept_paused, 1);
                counter_add(&wl->l->stats[w->id].accept_errors, 1);
                if (now - w->last_emfile_log_ms >= 1000) {
                    w->last_emfile_log_ms = now;
                    log_warn("worker %u: accept on '%s' paused: %s (process has %lld "
                             "connections; raise the fd limit or lower maxconn)",
                             w->id, wl->l->name, strerror(errno),
                             (long long)atomic_load(&proc_conns));
                }
                for (uint32_t k = 0; k < w->nlisteners; k++)
                    listener_pause(&w->listeners[k]);
                arm_resume(w);
                return;
            }
            /* ECONNABORTED, EPERM (firewall), EPROTO...: that client only. */
            counter_add(&wl->l->stats[w->id].accept_errors, 1);
            continue;
        }
        if (wl->l->mode == PROXY_MODE_HTTP && !http_ops) {
            close(fd); /* no handler linked in (unit tests): refuse */
            continue;
        }
        atomic_fetch_add_explicit(&proc_conns, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&wl->l->cur_conns, 1, memory_order_relaxed);
        if (wl->l->mode == PROXY_MODE_HTTP)
            http_ops->accept(w, wl, fd, (struct sockaddr *)&ss, sslen);
        else
            tcp_proxy_accept(w, wl, fd, (struct sockaddr *)&ss, sslen);
    }
}

void worker_conn_closed(struct worker *w, struct worker_snap *ws)
{
    atomic_fetch_sub_explicit(&proc_conns, 1, memory_order_relaxed);
    ws->nconns--;
    atomic_store_explicit(&w->nconns_shared, w->nconns, memory_order_relaxed);
    for (uint32_t i = 0; i < w->nlisteners; i++)
        if (w->listeners[i].paused) {
            listeners_resume(w);
            break;
        }
}

/* ---- messages from the main thread --------------------------------------- */

static void post(struct worker *w, enum msg_type type, void *a, void *b)
{
    struct msg *m = tern_calloc(1, sizeof(*m));
    uint64_t one = 1;

    m->type = type;
    m->a = a;
    m->b = b;
    pthread_mutex_lock(&w->mq_lock);
    if (w->mq_tail)
        w->mq_tail->next = m;
    else
        w->mq_head = m;
    w->mq_tail = m;
    pthread_mutex_unlock(&w->mq_lock);
    if (write(w->mq_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        tern_panic(__FILE__, __LINE__, "eventfd write: %s", strerror(errno));
}

static void close_listeners(struct worker *w)
{
    w->stopping = true;
    for (uint32_t i = 0; i < w->nlisteners; i++) {
        struct worker_listener *wl = &w->listeners[i];
        if (wl->fd < 0)
            continue;
        if (!wl->paused)
            event_del(&wl->ev);
        close(wl->fd);
        wl->fd = -1;
    }
}

static void handle_msg(struct worker *w, struct msg *m)
{
    switch (m->type) {
    case MSG_HOSTSET: {
        struct cluster *c = m->a;
        struct host_set *old = c->worker[w->id].hosts;
        c->worker[w->id].hosts = m->b;
        if (old)
            host_set_unref(old);
        upstream_dequeue(w, c);
        break;
    }
    case MSG_DEQUEUE:
        upstream_dequeue(w, m->a);
        break;
    case MSG_STOP_ACCEPT:
        close_listeners(w);
        if (http_ops)
            http_ops->stop_accepting(w);
        break;
    case MSG_EXIT:
        close_listeners(w);
        tcp_proxy_close_all(w, CR_KILLED);
        if (http_ops)
            http_ops->close_all(w);
        /* Stop listening for messages; loopexit still runs the callbacks
         * already active (deferred frees, the access-log flush). */
        event_del(&w->mq_ev);
        event_del(&w->resume_ev);
        event_del(&w->fin_ev);
        event_base_loopexit(w->base, NULL);
        break;
    }
}

static void mq_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct msg *m;
    uint64_t v;

    if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        log_err("worker %u: eventfd read: %s", w->id, strerror(errno));
    pthread_mutex_lock(&w->mq_lock);
    m = w->mq_head;
    w->mq_head = w->mq_tail = NULL;
    pthread_mutex_unlock(&w->mq_lock);
    while (m) {
        struct msg *next = m->next;
        handle_msg(w, m);
        free(m);
        m = next;
    }
}

void worker_kick_queues(struct worker *from, struct cluster *c)
{
    for (uint32_t i = 0; i < nworkers; i++)
        if (workers[i] != from)
            post(workers[i], MSG_DEQUEUE, c, NULL);
}

void workers_set_http_ops(const struct worker_mode_ops *ops)
{
    http_ops = ops;
}

void workers_publish_hosts(struct cluster *c)
{
    for (uint32_t i = 0; i < nworkers; i++) {
        host_set_ref(c->hosts);
        post(workers[i], MSG_HOSTSET, c, c->hosts);
    }
}

void workers_stop_accepting(void)
{
    for (uint32_t i = 0; i < nworkers; i++)
        post(workers[i], MSG_STOP_ACCEPT, NULL, NULL);
}

/* ---- threads -------------------------------------------------------------- */

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct snapshot *snap = w->snap;

    acl_thread_prepare(); /* no allocation on the request path (regex match block) */
    event_base_dispatch(w->base);

    /* Teardown on the worker's own thread: everything it owns. */
    if (http_ops)
        http_ops->worker_fini(w);
    accesslog_destroy(&w->alog);
    for (uint32_t i = 0; i < snap->nclusters; i++) {
        struct cluster *c = snap->clusters[i];
        if (c->worker[w->id].hosts) {
            host_set_unref(c->worker[w->id].hosts);
            c->worker[w->id].hosts = NULL;
        }
    }
    acl_thread_release();
    return NULL;
}

int workers_start(struct snapshot *snap)
{
    for (uint32_t i = 0; i < nworkers; i++) {
        struct worker *w = workers[i];
        struct event_config *cfg = event_config_new();

        /* One thread per base: no libevent locking needed. */
        event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
        w->base = event_base_new_with_config(cfg);
        event_config_free(cfg);
        if (!w->base) {
            log_err("worker %u: cannot create an event loop", i);
            return -1;
        }
        snapshot_ref(snap);
        w->snap = snap;
        w->snaps = tern_calloc(1, sizeof(*w->snaps));
        w->snaps->snap = snap;
        w->rng = tern_hash64(&w, sizeof(w), tern_now_us()) | 1;
        buf_pool_init(&w->pool, snap->global.bufsize, POOL_MAX_FREE);
        accesslog_init(&w->alog, w->base, STDERR_FILENO, ACCESSLOG_BUF, &w->stats.log_dropped);
        pthread_mutex_init(&w->mq_lock, NULL);
        w->mq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (w->mq_fd < 0) {
            log_err("worker %u: eventfd: %s", i, strerror(errno));
            return -1;
        }
        event_assign(&w->mq_ev, w->base, w->mq_fd, EV_READ | EV_PERSIST, mq_cb, w);
        event_add(&w->mq_ev, NULL);
        evtimer_assign(&w->resume_ev, w->base, resume_cb, w);
        evtimer_assign(&w->fin_ev, w->base, tcp_proxy_fin_cb, w);
        for (uint32_t k = 0; k < w->nlisteners; k++) {
            struct worker_listener *wl = &w->listeners[k];
            event_assign(&wl->ev, w->base, wl->fd, EV_READ | EV_PERSIST, accept_cb, wl);
            event_add(&wl->ev, NULL);
        }
        if (http_ops)
            http_ops->worker_init(w);
    }
    for (uint32_t i = 0; i < nworkers; i++) {
        int r = pthread_create(&workers[i]->thread, NULL, worker_main, workers[i]);
        if (r != 0) {
            log_err("worker %u: cannot start thread: %s", i, strerror(r));
            return -1;
        }
    }
    return 0;
}

void workers_shutdown(void)
{
    for (uint32_t i = 0; i < nworkers; i++)
        if (workers[i]->base)
            post(workers[i], MSG_EXIT, NULL, NULL);
    for (uint32_t i = 0; i < nworkers; i++) {
        struct worker *w = workers[i];
        if (w->base)
            pthread_join(w->thread, NULL);
    }
    for (uint32_t i = 0; i < nworkers; i++) {
        struct worker *w = workers[i];
        struct msg *m = w->mq_head;
        while (m) { /* posted after the loop ended: drop the references */
            struct msg *next = m->next;
            if (m->type == MSG_HOSTSET)
                host_set_unref(m->b);
            free(m);
            m = next;
        }
        for (uint32_t k = 0; k < w->nlisteners; k++)
            if (w->listeners[k].fd >= 0)
                close(w->listeners[k].fd);
        free(w->listeners);
        if (w->base) {
            event_del(&w->mq_ev);
            event_del(&w->resume_ev);
            event_base_free(w->base);
            pthread_mutex_destroy(&w->mq_lock);
        }
        if (w->mq_fd >= 0)
            close(w->mq_fd);
        buf_pool_destroy(&w->pool);
        while (w->snaps) {
            struct worker_snap *ws = w->snaps;
            w->snaps = ws->next;
            free(ws);
        }
        if (w->snap)
            snapshot_unref(w->snap);
        free(w);
    }
    free(workers);
    workers = NULL;
    nworkers = 0;
}
