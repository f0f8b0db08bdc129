/*
 * config_fuzz.c: libFuzzer target for the configuration file parser.
 *
 * The input is a whole configuration file. Whatever it holds, the parser
 * must return either a snapshot or errors, never crash, hang or leak; and
 * its promise about diagnostics must hold: a NULL result has at least one
 * error, and every message is one printable line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/config/cfg_parse.h"
#include "proxy/model/model.h"

static void check_lines(char **msgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (const unsigned char *c = (const unsigned char *)msgs[i]; *c; c++)
            if (*c < 0x20 || *c == 0x7f)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cfg_diag d = {0};
    struct snapshot *snap = cfg_parse_buffer("fuzz.cfg", (const char *)data, size, &d);

    if (!snap && d.nerrors == 0)
        abort();
    if (snap && d.nerrors != 0)
        abort();
    check_lines(d.errors, d.nerrors);
    check_lines(d.warnings, d.nwarnings);
    if (snap) {
        /* a valid model: every listener bound, every default cluster real */
        for (uint32_t i = 0; i < snap->nlisteners; i++) {
            const struct listener *l = snap->listeners[i];
            if (l->nbinds == 0)
                abort();
            if (l->default_cluster && snapshot_find_cluster(snap, l->default_cluster->name) == NULL)
                abort();
        }
        snapshot_unref(snap);
    }
    cfg_diag_free(&d);
    return 0;
}
