/*
 * xds_glue.c: the xDS client wired into the process (main thread).
 *
 * The client builds every snapshot from two parts: the static one, parsed
 * again each time from the configuration file's text as it was when tern
 * started or last reloaded (kept in memory: an edit on disk without SIGHUP
 * changes nothing), and the dynamic resources it holds. Each snapshot goes
 * through process_apply with the section's drain-time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/config/cfg_parse.h"
#include "proxy/core/log.h"
#include "proxy/core/util.h"
#include "proxy/main/process.h"
#include "proxy/model/model.h"
#include "xds/client/xds_client.h"


static struct xds_client *client;
static char *static_path;
static char *static_text;
static size_t static_len;

static struct snapshot *parse_static(const char *text, size_t len, bool log_diag, char *err,
                                     size_t errlen)
{
    struct cfg_diag d = {0};
    struct snapshot *snap = cfg_parse_buffer(static_path, text, len, &d);

    if (log_diag)
        for (size_t i = 0; i < d.nwarnings; i++)
            log_warn("reload: %s", d.warnings[i]);
    if (!snap) {
        size_t off = 0;
        err[0] = 0;
        for (size_t i = 0; i < d.nerrors && off + 1 < errlen; i++)
            off += (size_t)snprintf(err + off, errlen - off, "%s%s", i ? "; " : "",
                                    d.errors[i]);
    }
    cfg_diag_free(&d);
    return snap;
}

static struct snapshot *base_cb(void *arg, char *err, size_t errlen)
{
    return parse_static(static_text, static_len, false, err, errlen);
}

static int apply_cb(void *arg, struct snapshot *snap, char *err, size_t errlen)
{
    return process_apply(snap, snap->xds.drain_time_ms, err, errlen);
}

static const struct snapshot *current_cb(void *arg)
{
    return tern_proc.snap;
}

static bool ready_page(char *detail, size_t len)
{
    return xds_client_ready(client, detail, len);
}

static void config_dump_page(struct evbuffer *out)
{
    xds_client_config_dump(client, out);
}

static void metrics_page(struct evbuffer *out)
{
    xds_client_metrics(client, out);
}

static const struct tern_xds_pages pages = {ready_page, config_dump_page, metrics_page};

int process_xds_start(const char *path, char *err, size_t errlen)
{
    static const struct xds_client_ops ops = {base_cb, apply_cb, current_cb};
    const struct model_xds *x = &tern_proc.snap->xds;

    if (!x->enabled)
        return 0;
    static_path = tern_strdup(path);
    if (cfg_read_text(path, &static_text, &static_len, err, errlen) != 0)
        return -1;
    client = xds_client_start(tern_proc.base, x, &ops, NULL, err, errlen);
    if (!client)
        return -1;
    tern_proc.xds = &pages;
    log_notice("xds: started (node '%s', %s)", x->node_id,
               x->protocol == XDS_PROTOCOL_SOTW ? "state of the world" : "incremental");
    return 0;
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same_metadata(const struct model_xds *a, const struct model_xds *b)
{
    if (a->nmeta != b->nmeta)
        return false;
    for (uint32_t i = 0; i < a->nmeta; i++)
        if (strcmp(a->meta_keys[i], b->meta_keys[i]) != 0 ||
            strcmp(a->meta_values[i], b->meta_values[i]) != 0)
            return false;
    return true;
}

int process_xds_reload(const char *path, char *err, size_t errlen)
{
    struct snapshot *snap;
    char *text;
    size_t len;
    const struct model_xds *o = &tern_proc.snap->xds;

    if (cfg_read_text(path, &text, &len, err, errlen) != 0)
        return -1;
    snap = parse_static(text, len, true, err, errlen);
    if (!snap) {
        free(text);
        return -1;
    }
    {
        const struct model_xds *n = &snap->xds;
        if (!n->enabled || n->serverlen != o->serverlen ||
            memcmp(&n->server, &o->server, n->serverlen) != 0 ||
            !same_str(n->node_id, o->node_id) || !same_str(n->node_cluster, o->node_cluster) ||
            !same_str(n->region, o->region) || !same_str(n->zone, o->zone) ||
            !same_metadata(n, o) || !same_str(n->ca_pem, o->ca_pem) ||
            !same_str(n->verifyhost, o->verifyhost) ||
            n->protocol != o->protocol) {
            snprintf(err, errlen, "%s:%d: xds: the control plane and the node cannot change "
                                  "while tern runs; restart tern",
                     n->enabled ? n->loc.file : path, n->enabled ? n->loc.line : 0);
            snapshot_unref(snap);
            free(text);
            return -1;
        }
    }
    snapshot_unref(snap);
    {
        char *old = static_text;
        size_t oldlen = static_len;
        static_text = text;
        static_len = len;
        if (xds_client_rebuild(client, err, errlen) != 0) {
            static_text = old;
            static_len = oldlen;
            free(text);
            return -1;
        }
        free(old);
    }
    return 0;
}

bool process_xds_running(void)
{
    return client != NULL;
}

void process_xds_stop(void)
{
    tern_proc.xds = NULL;
    xds_client_stop(client);
    client = NULL;
    free(static_text);
    free(static_path);
    static_text = NULL;
    static_path = NULL;
}
