/*
 * cfg_xds.c: the `xds` section, tern's bootstrap for the xDS client (what
 * Envoy reads from its bootstrap file: the node and the ADS server).
 *
 *   xds
 *       server 10.0.0.5:18000          ADS server, plaintext gRPC (required), or
 *       server 10.0.0.5:18000 ssl ca-file /etc/tern/cp-ca.pem [verifyhost tern-cp]
 *                                      gRPC over TLS 1.2+, the server's certificate
 *                                      verified against ca-file and checked for
 *                                      verifyhost (default: the address)
 *       node-id sidecar-7              Node.id (required)
 *       node-cluster payments          Node.cluster
 *       node-locality eu-west-1/eu-west-1a   Node.locality region/zone
 *       node-metadata tern.token s3cr3t...   Node.metadata[key] = string value
 *                                      (repeatable, one line per key; values
 *                                      may be credentials: never logged)
 *       init-timeout 15s               how long resources may warm
 *       protocol delta|sotw            incremental (default) or state of the world
 *       drain-time 600s                xDS listeners removed or rebound drain this long
 *
 * At most one section. Values land in snapshot->xds (model_types.h); the
 * client (xds/) reads them. The section changes nothing else in the file:
 * static listeners and clusters keep working beside the dynamic ones.
 */
#include <stdlib.h>
#include <string.h>

#include "proxy/config/cfg_int.h"
#include "proxy/core/util.h"

/* Envoy's default initial_fetch_timeout and --drain-time-s. */
#define XDS_DEFAULT_INIT_TIMEOUT_MS 15000
#define XDS_DEFAULT_DRAIN_TIME_MS 600000
/* Node fields are echoed to the control plane: bounded, printable. */
#define XDS_MAX_NODE_FIELD 256
/* node-metadata: a handful of keys (tern-cp reads 4), values up to 1 KiB. */
#define XDS_MAX_NODE_METADATA 32
#define XDS_MAX_METADATA_VALUE 1024
/* A CA bundle for the control plane: a few certificates. */
#define XDS_MAX_CA_FILE (1u << 20)

static bool one_arg(struct cfg *p, char **av, size_t ac, const char *usage)
{
    if (ac == 1)
        return true;
    if (ac == 0)
        cfg_err(p, "missing argument (usage: %s %s)", p->kw, usage);
    else
        cfg_err(p, "unexpected extra argument '%s' (usage: %s %s)", av[1], p->kw, usage);
    return false;
}

/* A node field: 1..256 printable ASCII bytes without spaces. */
static bool node_field(struct cfg *p, const char *what, const char *s, size_t len)
{
    if (len == 0 || len > XDS_MAX_NODE_FIELD) {
        cfg_err(p, "%s must have 1 to %d characters", what, XDS_MAX_NODE_FIELD);
        return false;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f) {
            cfg_err(p, "%s '%.*s' has a character that is not printable ASCII", what,
                    (int)len, s);
            return false;
        }
    return true;
}

static void set_field(char **dst, const char *s, size_t len)
{
    free(*dst);
    *dst = tern_malloc(len + 1);
    memcpy(*dst, s, len);
    (*dst)[len] = 0;
}

void cfg_xds_begin(struct cfg *p, char **av, size_t ac)
{
    struct model_xds *x = &p->snap->xds;

    if (ac > 1)
        cfg_err(p, "unexpected argument '%s' (xds takes none)", av[1]);
    if (x->enabled) {
        cfg_err(p, "a second xds section (the first is at line %d): tern has one control "
                   "plane", x->loc.line);
        return;
    }
    x->enabled = true;
    x->loc.file = p->snap->source;
    x->loc.line = p->line;
    x->init_timeout_ms = XDS_DEFAULT_INIT_TIMEOUT_MS;
    x->drain_time_ms = XDS_DEFAULT_DRAIN_TIME_MS;
    x->protocol = XDS_PROTOCOL_DELTA;
}

void cfg_kw_xds_server(struct cfg *p, char **av, size_t ac)
{
    struct model_xds *x = &p->snap->xds;
    char err[256];

    const char *ca_file = NULL, *verifyhost = NULL;
    char *pem = NULL;
    size_t len;
    bool ssl = false;

#define XDS_SERVER_USAGE "usage: server <address>:<port> [ssl ca-file <file> [verifyhost <name>]]"
    if (ac == 0) {
        cfg_err(p, "missing argument (" XDS_SERVER_USAGE ")");
        return;
    }
    for (size_t i = 1; i < ac; i++) {
        if (strcmp(av[i], "ssl") == 0) {
            ssl = true;
        } else if ((strcmp(av[i], "ca-file") == 0 || strcmp(av[i], "verifyhost") == 0) &&
                   i + 1 < ac) {
            if (av[i][0] == 'c')
                ca_file = av[++i];
            else
                verifyhost = av[++i];
        } else {
            cfg_err(p, "unexpected argument '%s' (" XDS_SERVER_USAGE ")", av[i]);
            return;
        }
    }
    if ((ca_file || verifyhost) && !ssl) {
        cfg_err(p, "%s without ssl (" XDS_SERVER_USAGE ")", ca_file ? "ca-file" : "verifyhost");
        return;
    }
    if (ssl && !ca_file) {
        /* no unverified mode: the control plane hands out identities */
        cfg_err(p, "ssl needs ca-file <file>: the roots the control plane's certificate is "
                   "verified against (" XDS_SERVER_USAGE ")");
        return;
    }
    if (verifyhost && !node_field(p, "verifyhost", verifyhost, strlen(verifyhost)))
        return;
    if (tern_parse_addr(av[0], false, &x->server, &x->serverlen, err, sizeof(err)) != 0) {
        cfg_err(p, "%s", err);
        return;
    }
    if (!ssl)
        return;
    if (cfg_read_file(ca_file, XDS_MAX_CA_FILE, &pem, &len, err, sizeof(err)) != 0) {
        cfg_err(p, "ca-file: %s", err);
        return;
    }
    if (strlen(pem) != len || !strstr(pem, "-----BEGIN CERTIFICATE-----")) {
        cfg_err(p, "ca-file: '%s' holds no PEM certificate", ca_file);
        free(pem);
        return;
    }
    free(x->ca_pem);
    x->ca_pem = pem;
    set_field(&x->ca_file, ca_file, strlen(ca_file));
    if (verifyhost)
        set_field(&x->verifyhost, verifyhost, strlen(verifyhost));
#undef XDS_SERVER_USAGE
}

void cfg_kw_xds_node_id(struct cfg *p, char **av, size_t ac)
{
    if (one_arg(p, av, ac, "<id>") && node_field(p, "node id", av[0], strlen(av[0])))
        set_field(&p->snap->xds.node_id, av[0], strlen(av[0]));
}

void cfg_kw_xds_node_cluster(struct cfg *p, char **av, size_t ac)
{
    if (one_arg(p, av, ac, "<name>") && node_field(p, "node cluster", av[0], strlen(av[0])))
        set_field(&p->snap->xds.node_cluster, av[0], strlen(av[0]));
}

void cfg_kw_xds_node_locality(struct cfg *p, char **av, size_t ac)
{
    const char *slash;

    if (!one_arg(p, av, ac, "<region>/<zone>"))
        return;
    slash = strchr(av[0], '/');
    if (!slash || strchr(slash + 1, '/')) {
        cfg_err(p, "invalid locality '%s' (expected <region>/<zone>, one '/')", av[0]);
        return;
    }
    if (!node_field(p, "region", av[0], (size_t)(slash - av[0])) ||
        !node_field(p, "zone", slash + 1, strlen(slash + 1)))
        return;
    set_field(&p->snap->xds.region, av[0], (size_t)(slash - av[0]));
    set_field(&p->snap->xds.zone, slash + 1, strlen(slash + 1));
}

/* node-metadata <key> <value>: a string field of Node.metadata (a
 * google.protobuf.Struct), how a sidecar presents e.g. tern-cp's per-service
 * token (`tern.token`). The value may hold spaces when quoted. */
void cfg_kw_xds_node_metadata(struct cfg *p, char **av, size_t ac)
{
    struct model_xds *x = &p->snap->xds;
    size_t vlen;

    if (ac < 2) {
        cfg_err(p, "missing argument (usage: node-metadata <key> <value>)");
        return;
    }
    if (ac > 2) {
        cfg_err(p, "unexpected extra argument '%s' (usage: node-metadata <key> <value>)", av[2]);
        return;
    }
    if (!node_field(p, "metadata key", av[0], strlen(av[0])))
        return;
    vlen = strlen(av[1]);
    if (vlen == 0 || vlen > XDS_MAX_METADATA_VALUE) {
        cfg_err(p, "the value of '%s' must have 1 to %d characters", av[0],
                XDS_MAX_METADATA_VALUE);
        return;
    }
    for (size_t i = 0; i < vlen; i++)
        if ((unsigned char)av[1][i] < 0x20 || (unsigned char)av[1][i] >= 0x7f) {
            /* not echoed: the value may be a credential */
            cfg_err(p, "the value of '%s' has a character that is not printable ASCII", av[0]);
            return;
        }
    for (uint32_t i = 0; i < x->nmeta; i++)
        if (strcmp(x->meta_keys[i], av[0]) == 0) {
            cfg_err(p, "metadata key '%s' given twice", av[0]);
            return;
        }
    if (x->nmeta >= XDS_MAX_NODE_METADATA) {
        cfg_err(p, "more than %d node-metadata lines", XDS_MAX_NODE_METADATA);
        return;
    }
    x->meta_keys = tern_realloc(x->meta_keys, (x->nmeta + 1) * sizeof(*x->meta_keys));
    x->meta_values = tern_realloc(x->meta_values, (x->nmeta + 1) * sizeof(*x->meta_values));
    x->meta_keys[x->nmeta] = tern_strdup(av[0]);
    x->meta_values[x->nmeta] = tern_strdup(av[1]);
    x->nmeta++;
}

static void get_time(struct cfg *p, const char *s, uint32_t *ms, uint32_t min_ms)
{
    uint32_t v;

    if (tern_parse_duration_ms(s, &v) != 0) {
        cfg_err(p, "invalid time '%s' (expected a number with an optional unit us, ms, s, m, "
                   "h or d; no unit means ms)", s);
        return;
    }
    if (v < min_ms) {
        cfg_err(p, "'%s' is too short (at least %ums)", s, min_ms);
        return;
    }
    *ms = v;
}

void cfg_kw_xds_init_timeout(struct cfg *p, char **av, size_t ac)
{
    if (one_arg(p, av, ac, "<time>"))
        get_time(p, av[0], &p->snap->xds.init_timeout_ms, 1);
}

void cfg_kw_xds_drain_time(struct cfg *p, char **av, size_t ac)
{
    if (one_arg(p, av, ac, "<time>"))
        get_time(p, av[0], &p->snap->xds.drain_time_ms, 0);
}

void cfg_kw_xds_protocol(struct cfg *p, char **av, size_t ac)
{
    if (!one_arg(p, av, ac, "delta|sotw"))
        return;
    if (strcmp(av[0], "delta") == 0)
        p->snap->xds.protocol = XDS_PROTOCOL_DELTA;
    else if (strcmp(av[0], "sotw") == 0)
        p->snap->xds.protocol = XDS_PROTOCOL_SOTW;
    else
        cfg_err(p, "unknown protocol '%s' (expected delta or sotw)", av[0]);
}

void cfg_xds_finish(struct cfg *p)
{
    const struct model_xds *x = &p->snap->xds;

    if (!x->enabled)
        return;
    p->line = x->loc.line;
    p->kw = "xds";
    if (!x->serverlen)
        cfg_err(p, "no 'server <address>:<port>' line: tern needs its control plane's address");
    if (!x->node_id)
        cfg_err(p, "no 'node-id <id>' line: the control plane knows tern by its node id");
}
