/*
 * hm_test_util.c: see hm_test_util.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/filters/http/header_mutation/hm_test_util.h"

static int split(char *line, char **argv, int max)
{
    int argc = 0;

    for (char *tok = strtok(line, " "); tok && argc < max; tok = strtok(NULL, " ")) {
        char *sp;
        while ((sp = strstr(tok, "<sp>"))) {
            *sp = ' ';
            memmove(sp + 1, sp + 4, strlen(sp + 4) + 1);
        }
        argv[argc++] = tok;
    }
    return argc;
}

static int add_line(struct hm_config *c, const struct acl_set *acls, const char *text, char *err,
                    size_t errlen)
{
    char buf[2048], *argv[64];
    int argc;
    enum hm_dir dir = HM_REQUEST;

    snprintf(buf, sizeof(buf), "%s", text);
    argc = split(buf, argv, 64);
    assert_true(argc >= 1);
    if (strcmp(argv[0], "http-request") == 0) {
        return hm_config_add(c, HM_REQUEST, acls, argc - 1, argv + 1, 16384, err, errlen);
    }
    if (strcmp(argv[0], "http-response") == 0)
        return hm_config_add(c, HM_RESPONSE, acls, argc - 1, argv + 1, 16384, err, errlen);
    /* redirect ...: the section keyword */
    return hm_config_add(c, dir, acls, argc, argv, 16384, err, errlen);
}

struct hm_config *hm_build(const struct acl_set *acls, const char *lines)
{
    struct hm_config *c = hm_config_new(101);
    char copy[8192], err[512];
    char *save = NULL;

    snprintf(copy, sizeof(copy), "%s", lines);
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (add_line(c, acls, l, err, sizeof(err)) != 0)
            fail_msg("'%s' refused: %s", l, err);
    }
    return c;
}

const char *hm_error(const struct acl_set *acls, const char *line)
{
    static char err[512];
    struct hm_config *c = hm_config_new(101);

    err[0] = 0;
    if (add_line(c, acls, line, err, sizeof(err)) == 0)
        fail_msg("'%s' accepted but should not be", line);
    assert_int_equal(hm_config_count(c, HM_REQUEST) + hm_config_count(c, HM_RESPONSE), 0);
    hm_config_free(c);
    return err;
}

const char *fake_reply_hdr(const struct filter_stream *fs, const char *name)
{
    for (int i = 0; i < fs->nhdrs; i++)
        if (strcmp(fs->hdr_names[i], name) == 0)
            return fs->hdr_values[i];
    return NULL;
}

/* ---- filter.h ------------------------------------------------------------------- */

const void *filter_config(const struct filter_stream *fs)
{
    return fs->cfg;
}

const struct filter_stream_info *filter_info(const struct filter_stream *fs)
{
    return &fs->info;
}

void filter_local_reply(struct filter_stream *fs, uint16_t status, const char *content_type,
                        const char *body, size_t body_len, enum tern_reason reason)
{
    fs->nreplies++;
    fs->status = status;
    fs->reason = reason;
    snprintf(fs->ctype, sizeof(fs->ctype), "%s", content_type ? content_type : "");
    fs->body_null = body == NULL;
    assert_true(body_len < sizeof(fs->body));
    if (body)
        memcpy(fs->body, body, body_len);
    fs->body[body_len] = 0;
    fs->body_len = body_len;
}

int filter_reply_header(struct filter_stream *fs, const char *name, const char *value)
{
    if (fs->nreplies || fs->nhdrs == 8)
        fail_msg("filter_reply_header after the reply or too many");
    snprintf(fs->hdr_names[fs->nhdrs], sizeof(fs->hdr_names[0]), "%s", name);
    snprintf(fs->hdr_values[fs->nhdrs], sizeof(fs->hdr_values[0]), "%s", value);
    fs->nhdrs++;
    return 0;
}
