/* test_snapshot.c: see test_snapshot.h. */
#include "tests/unit/proxy/admin/test_snapshot.h"

#include <arpa/inet.h>

#include "proxy/lb/lb.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_addr(struct endpoint *ep, const char *ip, int port)
{
    struct sockaddr_in *a = (struct sockaddr_in *)&ep->addr;

    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &a->sin_addr);
    ep->addrlen = sizeof(*a);
}

struct snapshot *test_snapshot_new(void)
{
    struct snapshot *snap = snapshot_new("test.cfg");
    struct listener *fe = snapshot_add_listener(snap, TS_FE_NAME);
    struct listener *fe2 = snapshot_add_listener(snap, "fe2");
    struct cluster *be = snapshot_add_cluster(snap, TS_BE_NAME);
    struct endpoint *s1 = cluster_add_endpoint(be, "s1");
    struct endpoint *s2 = cluster_add_endpoint(be, "s2");
    struct endpoint *bk = cluster_add_endpoint(be, "bk");
    struct endpoint *off = cluster_add_endpoint(be, "off");
    char err[256];

    (void)fe2;
    fe->default_cluster = be;
    be->hc.type = HC_HTTP;
    be->hc.uri = strdup("/health");
    set_addr(s1, "10.0.0.1", 8080);
    set_addr(s2, "10.0.0.2", 8080);
    set_addr(bk, "10.0.0.3", 8080);
    set_addr(off, "10.0.0.4", 8080);
    s1->weight = 3;
    s1->check = s2->check = true;
    bk->backup = true;
    off->disabled = true;
    snap->version = 7;
    if (snapshot_runtime_init(snap, 2, err, sizeof(err)) != 0) {
        fprintf(stderr, "snapshot_runtime_init: %s\n", err);
        abort();
    }
    atomic_store(&s2->up, 0);
    s2->hc.health = 0;
    counter_add(&s2->hc.checks_total, 9);
    counter_add(&s2->hc.checks_failed, 4);
    counter_add(&s2->hc.went_down, 2);
    counter_add(&s2->hc.went_up, 1);
    snprintf(s2->hc.last_status, sizeof(s2->hc.last_status), "L4CON: Connection \"refused\"");

    /* worker 0 and worker 1 each hold part of every number */
    counter_add(&fe->stats[0].conns_total, 3);
    counter_add(&fe->stats[1].conns_total, 4);
    counter_add(&fe->stats[0].cur_conns, 2);
    counter_add(&fe->stats[1].cur_conns, (uint64_t)-1); /* gauge delta: -1 */
    counter_add(&fe->stats[0].bytes_in, 1000);
    counter_add(&fe->stats[1].bytes_in, 24);
    counter_add(&fe->stats[1].bytes_out, 5);
    counter_add(&fe->stats[0].denied_conns, 1);
    counter_add(&be->stats[0].conns_total, 10);
    counter_add(&be->stats[1].conns_total, 20);
    counter_add(&be->stats[0].connect_errors, 1);
    counter_add(&be->stats[1].connect_errors, 2);
    counter_add(&be->stats[1].retries, 5);
    counter_add(&be->stats[0].no_server, 6);
    counter_add(&s1->stats[0].conns_total, 7);
    counter_add(&s1->stats[1].conns_total, 8);
    counter_add(&s1->stats[0].lb_selected, 100);
    counter_add(&s1->stats[1].lb_selected, 23);
    counter_add(&s1->stats[1].bytes_out, 4096);
    counter_add(&s1->stats[0].cur_conns, 1);
    return snap;
}

void test_snapshot_free(struct snapshot *snap)
{
    for (uint32_t i = 0; i < snap->nclusters; i++) {
        struct cluster *c = snap->clusters[i];
        for (uint32_t w = 0; w < snap->nworkers; w++) {
            if (c->worker[w].hosts)
                host_set_unref(c->worker[w].hosts);
            c->worker[w].hosts = NULL;
        }
    }
    snapshot_unref(snap);
}
