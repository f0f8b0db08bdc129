/*
 * lb.c: chooses a cluster's load-balancing algorithm from its settings.
 * `balance source` is the only hashing policy today; its hash-type picks the
 * weighted map (map-based, HAProxy's default) or a consistent hash, whose
 * implementation is the ring unless the cluster asks for Maglev (see ring.c
 * for why the ring is the default).
 */
#include "proxy/lb/lb.h"

const struct lb_ops *lb_ops_for(const struct cluster *c)
{
    switch (c->lb_policy) {
    case LB_ROUNDROBIN:
        return &lb_roundrobin_ops;
    case LB_STATIC_RR:
        return &lb_static_rr_ops;
    case LB_LEASTCONN:
        return &lb_leastconn_ops;
    case LB_FIRST:
        return &lb_first_ops;
    case LB_SOURCE:
        if (c->hash_type == LB_HASH_CONSISTENT)
            return c->consistent_algo == LB_CONSISTENT_MAGLEV ? &lb_maglev_ops : &lb_ring_ops;
        return &lb_map_hash_ops;
    case LB_RANDOM:
        return &lb_random_ops;
    }
    return &lb_roundrobin_ops;
}
