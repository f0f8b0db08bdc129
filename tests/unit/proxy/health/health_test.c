/*
 * health_test.c: the checker's scheduler (proxy/health/health.c) on a real
 * snapshot and real sockets: which endpoints are checked, exact fall/rise
 * counts through real checks, the host set rebuilt and published on each
 * transition and only then, counters and last_status, and a clean stop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "proxy/core/util.h"
#include "proxy/health/health.h"
#include "proxy/lb/lb.h"
#include "proxy/model/model.h"
#include "tests/unit/proxy/health/test_server.h"

#define INTER_MS 40

struct published {
    struct cluster *c;
    int s1_up, s2_up;
    uint64_t s1_total, s1_failed, s2_total, s2_failed;
    uint32_t hosts_n;
};

static struct {
    struct event_base *base;
    struct test_server srv;
    struct snapshot *snap;
    struct cluster *c;
    struct endpoint *s1, *s2, *s3, *s4;
    struct published pub[16];
    int npub;
    int want_pub; /* loopbreak when npub reaches this */
} t;

static void fake_publish(struct cluster *c)
{
    struct published *p = &t.pub[t.npub < 15 ? t.npub : 15];

    p->c = c;
    p->s1_up = atomic_load(&t.s1->up);
    p->s2_up = atomic_load(&t.s2->up);
    p->s1_total = counter_get(&t.s1->hc.checks_total);
    p->s1_failed = counter_get(&t.s1->hc.checks_failed);
    p->s2_total = counter_get(&t.s2->hc.checks_total);
    p->s2_failed = counter_get(&t.s2->hc.checks_failed);
    p->hosts_n = c->hosts ? c->hosts->n : 999;
    t.npub++;
    if (t.npub >= t.want_pub)
        event_base_loopbreak(t.base);
}

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
    fail_msg("no expected transition within 10 s (npub=%d)", t.npub);
}

static struct endpoint *add_ep(const char *name, const struct sockaddr_in *a, bool check,
                               uint32_t rise, uint32_t fall)
{
    struct endpoint *ep = cluster_add_endpoint(t.c, name);

    memcpy(&ep->addr, a, sizeof(*a));
    ep->addrlen = sizeof(*a);
    ep->check = check;
    ep->inter_ms = INTER_MS;
    ep->rise = rise;
    ep->fall = fall;
    return ep;
}

static void run_until_published(int n)
{
    t.want_pub = n;
    event_base_dispatch(t.base);
    assert_int_equal(t.npub, n);
}

static void test_scheduler(void **state)
{
    struct sockaddr_in dead;
    struct event *guard;
    struct timeval tv = {10, 0};
    char err[256];
    uint64_t now;

    memset(&t, 0, sizeof(t));
    t.base = event_base_new();
    assert_int_equal(test_server_init(&t.srv, t.base), 0);
    t.srv.mode = TS_STATUS;
    t.srv.status = 200;
    test_refused_addr(&dead);

    t.snap = snapshot_new("test.cfg");
    t.c = snapshot_add_cluster(t.snap, "be_app");
    t.c->hc.type = HC_HTTP;
    t.c->hc.method = tern_strdup("GET");
    t.c->hc.uri = tern_strdup("/health");
    t.c->hc.version = tern_strdup("HTTP/1.0");
    t.s1 = add_ep("s1", &t.srv.addr, true, 2, 3);
    t.s2 = add_ep("s2", &dead, true, 2, 2);
    t.s3 = add_ep("s3", &dead, true, 2, 2);
    t.s3->disabled = true; /* maintenance: never checked */
    t.s4 = add_ep("s4", &dead, false, 2, 2); /* no `check`: never checked */
    assert_int_equal(snapshot_runtime_init(t.snap, 1, err, sizeof(err)), 0);
    assert_int_equal(t.c->hosts->n, 3); /* s1, s2, s4 start up */

    now = tern_now_ms();
    assert_int_equal(health_start(t.base, t.snap, 1, fake_publish), 2);
    assert_int_equal(health_start(t.base, t.snap, 1, fake_publish), -1);
    /* first checks are spread within one interval */
    assert_true(t.s1->hc.next_check_ms >= now && t.s1->hc.next_check_ms <= now + INTER_MS + 5);
    assert_true(t.s2->hc.next_check_ms >= now && t.s2->hc.next_check_ms <= now + INTER_MS + 5);
    assert_non_null(t.s1->hc.check);
    assert_null(t.s3->hc.check);
    assert_null(t.s4->hc.check);

    guard = evtimer_new(t.base, on_guard, NULL);
    evtimer_add(guard, &tv);

    /* s2 refuses: down after exactly fall = 2 checks */
    run_until_published(1);
    assert_ptr_equal(t.pub[0].c, t.c);
    assert_int_equal(t.pub[0].s2_up, 0);
    assert_int_equal(t.pub[0].s2_total, 2);
    assert_int_equal(t.pub[0].s2_failed, 2);
    assert_int_equal(t.pub[0].s1_up, 1);
    assert_int_equal(t.pub[0].hosts_n, 2); /* s1 and s4 */
    assert_int_equal(counter_get(&t.s2->hc.went_down), 1);
    assert_int_equal(strncmp(t.s2->hc.last_status, "L4CON", 5), 0);
    /* s1's first check may still be on its way to the server (slow builds):
     * poll the loop until the server has read a request (the guard bounds it) */
    while (!t.srv.req[0])
        event_base_loop(t.base, EVLOOP_ONCE);
    assert_string_equal(t.srv.req, "GET /health HTTP/1.0\r\nConnection: close\r\n\r\n");

    /* s1 starts answering 500: down after exactly fall = 3 failed checks
     * (s2 stays down and publishes nothing more meanwhile) */
    assert_int_equal(counter_get(&t.s1->hc.checks_failed), 0);
    t.srv.status = 500;
    run_until_published(2);
    assert_int_equal(t.pub[1].s1_up, 0);
    assert_int_equal(t.pub[1].s1_failed, 3);
    assert_int_equal(t.pub[1].hosts_n, 1); /* s4 only */
    assert_int_equal(strncmp(t.s1->hc.last_status, "L7STS 500", 9), 0);
    assert_int_equal(counter_get(&t.s1->hc.went_down), 1);

    /* back to 200: up after exactly rise = 2 passing checks */
    t.srv.status = 200;
    run_until_published(3);
    assert_int_equal(t.pub[2].s1_up, 1);
    assert_int_equal(t.pub[2].s1_total - t.pub[1].s1_total, 2);
    assert_int_equal(t.pub[2].s1_failed, 3);
    assert_int_equal(t.pub[2].hosts_n, 2);
    assert_int_equal(counter_get(&t.s1->hc.went_up), 1);
    assert_int_equal(strncmp(t.s1->hc.last_status, "L7OK 200", 8), 0);

    assert_int_equal(counter_get(&t.s3->hc.checks_total), 0);
    assert_int_equal(counter_get(&t.s4->hc.checks_total), 0);
    assert_int_equal(atomic_load(&t.s3->up), 0);
    assert_int_equal(atomic_load(&t.s4->up), 1);

    health_stop();
    assert_null(t.s1->hc.check);
    assert_null(t.s2->hc.check);
    health_stop(); /* idempotent */
    /* a stopped checker publishes nothing more */
    t.want_pub = 1000;
    event_base_loop(t.base, EVLOOP_NONBLOCK);
    assert_int_equal(t.npub, 3);

    /* and can start again */
    assert_int_equal(health_start(t.base, t.snap, 1, NULL), 2);
    health_stop();

    event_free(guard);
    /* what each worker does with its slot when it exits */
    host_set_unref(t.c->worker[0].hosts);
    t.c->worker[0].hosts = NULL;
    snapshot_unref(t.snap);
    test_server_free(&t.srv);
    event_base_free(t.base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scheduler),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
