/* Tests of proxy/model/model_swap.c: what a new snapshot takes over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "proxy/lb/lb.h"
#include "proxy/model/model.h"

static void set_addr(struct endpoint *e, int port)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&e->addr;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    e->addrlen = sizeof(*sin);
}

/* fe -> rule -> "a", default "b"; a and b with the given fingerprints. */
static struct snapshot *build(uint64_t fa, uint64_t fb, int port_b2)
{
    struct snapshot *s = snapshot_new("t.cfg");
    struct listener *l = snapshot_add_listener(s, "fe");
    struct cluster *a = snapshot_add_cluster(s, "a");
    struct cluster *b = snapshot_add_cluster(s, "b");

    a->fingerprint = fa;
    b->fingerprint = fb;
    set_addr(cluster_add_endpoint(a, "a1"), 1001);
    set_addr(cluster_add_endpoint(b, "b1"), 2001);
    set_addr(cluster_add_endpoint(b, "b2"), port_b2);
    l->rules = calloc(1, sizeof(*l->rules));
    l->rules[0].target = a;
    l->nrules = 1;
    l->default_cluster = b;
    return s;
}

static void free_rules(struct snapshot *s)
{
    free(s->listeners[0]->rules);
    s->listeners[0]->rules = NULL;
    s->listeners[0]->nrules = 0;
}

static void test_unchanged_cluster_is_shared(void **state)
{
    char err[128];
    struct snapshot *old = build(11, 22, 2002), *nw = build(11, 33, 2002);
    struct cluster *oa = old->clusters[0], *ob = old->clusters[1];
    struct listener *l = nw->listeners[0];

    assert_int_equal(snapshot_runtime_init(old, 2, err, sizeof(err)), 0);
    /* state the new snapshot must inherit */
    counter_add(&oa->stats[1].conns_total, 7);
    atomic_store(&ob->endpoints[1]->up, 0);
    ob->endpoints[1]->hc.health = 0;
    strcpy(ob->endpoints[1]->hc.last_status, "L4CON");

    assert_int_equal(snapshot_take_over(nw, old), 1);
    assert_ptr_equal(nw->clusters[0], oa);               /* same object */
    assert_ptr_equal(l->rules[0].target, oa);             /* rule re-pointed */
    assert_ptr_not_equal(nw->clusters[1], ob);           /* b changed */
    assert_ptr_equal(l->default_cluster, nw->clusters[1]);
    assert_true(nw->clusters[1]->endpoints[1]->hc.carried);

    assert_int_equal(snapshot_runtime_init(nw, 2, err, sizeof(err)), 0);
    assert_int_equal(counter_get(&nw->clusters[0]->stats[1].conns_total), 7);
    /* b2 keeps its DOWN state; b1 (up before) stays up */
    assert_int_equal(atomic_load(&nw->clusters[1]->endpoints[1]->up), 0);
    assert_string_equal(nw->clusters[1]->endpoints[1]->hc.last_status, "L4CON");
    assert_int_equal(atomic_load(&nw->clusters[1]->endpoints[0]->up), 1);
    assert_int_equal(nw->clusters[1]->hosts->n, 1);       /* only b1 usable */

    /* the old snapshot goes; the shared cluster stays for the new one */
    free_rules(old);
    snapshot_unref(old);
    assert_string_equal(nw->clusters[0]->name, "a");
    assert_int_equal(nw->clusters[0]->endpoints[0]->weight, 1);
    snapshot_own_locations(nw);
    free_rules(nw);
    snapshot_unref(nw);
}

static void test_moved_server_starts_fresh(void **state)
{
    char err[128];
    struct snapshot *old = build(0, 22, 2002), *nw = build(0, 23, 2999);

    assert_int_equal(snapshot_runtime_init(old, 1, err, sizeof(err)), 0);
    atomic_store(&old->clusters[1]->endpoints[1]->up, 0);
    /* fingerprint 0: never taken over, even when equal */
    assert_int_equal(snapshot_take_over(nw, old), 0);
    assert_ptr_not_equal(nw->clusters[0], old->clusters[0]);
    /* b2 has a new address: not the same server, starts up */
    assert_false(nw->clusters[1]->endpoints[1]->hc.carried);
    assert_true(nw->clusters[1]->endpoints[0]->hc.carried);
    assert_int_equal(snapshot_runtime_init(nw, 1, err, sizeof(err)), 0);
    assert_int_equal(atomic_load(&nw->clusters[1]->endpoints[1]->up), 1);
    free_rules(old);
    free_rules(nw);
    snapshot_unref(old);
    snapshot_unref(nw);
}

static void test_many_clusters(void **state)
{
    char err[128], name[32];
    struct snapshot *old = snapshot_new("o"), *nw = snapshot_new("n");

    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "c%d", i);
        snapshot_add_cluster(old, name)->fingerprint = (uint64_t)i + 1;
        snprintf(name, sizeof(name), "c%d", 4999 - i);
        /* every other one changed */
        snapshot_add_cluster(nw, name)->fingerprint = (uint64_t)(4999 - i) + 1 + (i & 1) * 100000;
    }
    assert_int_equal(snapshot_runtime_init(old, 1, err, sizeof(err)), 0);
    assert_int_equal(snapshot_take_over(nw, old), 2500);
    assert_int_equal(snapshot_runtime_init(nw, 1, err, sizeof(err)), 0);
    for (uint32_t i = 0; i < nw->nclusters; i++)
        assert_int_equal(snapshot_find_cluster(old, nw->clusters[i]->name) == nw->clusters[i],
                         (i & 1) == 0);
    snapshot_unref(old);
    snapshot_unref(nw);
}

/* A source that carries a running cluster over puts the running object in
 * its snapshot (snapshot_put_cluster): take_over keeps it as it is and
 * counts it; snapshot_remap_clusters re-points listeners at another object. */
static void test_carried_cluster_is_kept(void **state)
{
    char err[128];
    struct snapshot *old = build(11, 22, 2002), *nw = snapshot_new("n");
    struct cluster *oa = old->clusters[0], *ob = old->clusters[1], *nb;
    struct listener *l = snapshot_add_listener(nw, "fe");

    assert_int_equal(snapshot_runtime_init(old, 1, err, sizeof(err)), 0);
    counter_add(&oa->stats[0].conns_total, 3);
    cluster_ref(oa);
    snapshot_put_cluster(nw, oa);                   /* carried by the source */
    nb = cluster_new("b");                          /* b changed */
    nb->fingerprint = 23;
    set_addr(cluster_add_endpoint(nb, "b1"), 2001);
    snapshot_put_cluster(nw, nb);
    atomic_store(&ob->endpoints[0]->up, 0);
    l->default_cluster = oa;
    l->rules = calloc(1, sizeof(*l->rules));
    l->rules[0].target = nb;
    l->nrules = 1;

    assert_int_equal(snapshot_take_over(nw, old), 1);  /* a: kept; b: new */
    assert_ptr_equal(nw->clusters[0], oa);
    assert_ptr_equal(nw->clusters[1], nb);
    assert_true(nb->endpoints[0]->hc.carried);         /* b1's health carried */
    assert_int_equal(snapshot_runtime_init(nw, 1, err, sizeof(err)), 0);
    assert_int_equal(atomic_load(&nb->endpoints[0]->up), 0);
    assert_int_equal(counter_get(&nw->clusters[0]->stats[0].conns_total), 3);

    /* the listener borrows a and b; remap b -> a and nothing else */
    snapshot_remap_clusters(nw, &nb, &oa, 1);
    assert_ptr_equal(l->rules[0].target, oa);
    assert_ptr_equal(l->default_cluster, oa);

    free_rules(old);
    snapshot_unref(old);
    assert_int_equal(atomic_load(&oa->refcnt), 1);     /* nw's reference only */
    free_rules(nw);
    snapshot_unref(nw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unchanged_cluster_is_shared),
        cmocka_unit_test(test_moved_server_starts_fresh),
        cmocka_unit_test(test_many_clusters),
        cmocka_unit_test(test_carried_cluster_is_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
