/*
 * fake_core.c: see fake_core.h. Implements the filter.h functions the
 * filters under test call; the others are left undefined on purpose, so a
 * filter that starts using one fails to link its test until the fake learns
 * it.
 */
#include "tests/unit/filters/http/rate_limit/fake_core.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

uint32_t fake_nworkers = 1;

void fake_stream_init(struct filter_stream *fs, const void *cfg)
{
    memset(fs, 0, sizeof(*fs));
    fs->cfg = cfg;
}

void fake_stream_reset_output(struct filter_stream *fs)
{
    fs->nreplies = 0;
    fs->status = 0;
    fs->reason = TERN_R_NONE;
    fs->reply_body_null = false;
    fs->nhdrs = 0;
    fs->bad_calls = 0;
}

void fake_stream_client(struct filter_stream *fs, const char *addr, uint16_t port)
{
    memset(&fs->client, 0, sizeof(fs->client));
    if (strchr(addr, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&fs->client;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        fs->has_client = inet_pton(AF_INET6, addr, &a->sin6_addr) == 1;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&fs->client;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        fs->has_client = inet_pton(AF_INET, addr, &a->sin_addr) == 1;
    }
}

const char *fake_header(const struct filter_stream *fs, const char *name)
{
    for (int i = 0; i < fs->nhdrs; i++)
        if (strcmp(fs->hdrs[i].name, name) == 0)
            return fs->hdrs[i].value;
    return NULL;
}

int fake_header_count(const struct filter_stream *fs, const char *name)
{
    int n = 0;
    for (int i = 0; i < fs->nhdrs; i++)
        n += strcmp(fs->hdrs[i].name, name) == 0;
    return n;
}

/* ---- filter.h ----------------------------------------------------------------- */

const void *filter_config(const struct filter_stream *fs)
{
    return fs->cfg;
}

void filter_local_reply(struct filter_stream *fs, uint16_t status, const char *content_type,
                        const char *body, size_t body_len, enum tern_reason reason)
{
    if (fs->nreplies)
        fs->bad_calls++;
    fs->nreplies++;
    fs->status = status;
    fs->reason = reason;
    fs->reply_body_null = body == NULL && body_len == 0;
}

int filter_reply_header(struct filter_stream *fs, const char *name, const char *value)
{
    struct fake_hdr *h;

    if (fs->nreplies || fs->nhdrs == FAKE_MAX_HDRS || strlen(name) >= sizeof(h->name) ||
        strlen(value) >= sizeof(h->value)) {
        fs->bad_calls++;
        return -1;
    }
    h = &fs->hdrs[fs->nhdrs++];
    strcpy(h->name, name);
    strcpy(h->value, value);
    return 0;
}

const struct filter_stream_info *filter_info(const struct filter_stream *fs)
{
    struct filter_stream *m = (struct filter_stream *)fs;
    m->info.client = fs->has_client ? (const struct sockaddr *)&fs->client : NULL;
    return &m->info;
}

uint64_t filter_now_us(const struct filter_stream *fs)
{
    return fs->now_us;
}

uint32_t filter_worker(const struct filter_stream *fs)
{
    return fs->worker;
}

uint32_t filter_nworkers(void)
{
    return fake_nworkers;
}

void filter_buffer_request_body(struct filter_stream *fs, size_t max_bytes)
{
    if (max_bytes > fs->buffer_body)
        fs->buffer_body = max_bytes;
}

void filter_set_attempt_timeout(struct filter_stream *fs, uint32_t ms)
{
    fs->attempt_timeout = ms;
}
