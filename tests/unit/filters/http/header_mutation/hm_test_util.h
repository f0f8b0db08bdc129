/*
 * hm_test_util.h: a fake of the stream core's filter.h functions for the
 * header-mutation filter's tests (config, local reply, reply fields, stream
 * info), and helpers to build rule sets from config-like lines.
 */
#ifndef TERN_TESTS_HM_TEST_UTIL_H
#define TERN_TESTS_HM_TEST_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "filters/filter.h"
#include "filters/http/header_mutation/header_mutation.h"

struct acl_set;

struct filter_stream {
    const void *cfg;
    struct filter_stream_info info;
    /* recorded */
    int nreplies;
    uint16_t status;
    enum tern_reason reason;
    char ctype[64];
    char body[1024];
    size_t body_len;
    bool body_null;
    char hdr_names[8][64];
    char hdr_values[8][512];
    int nhdrs;
};

/* Builds a config from lines "http-request ..." / "http-response ..." /
 * "redirect ..." separated by '\n' (words split on spaces; "<sp>" in a word
 * is a space); acls may be NULL. Fails the test on a parse error. */
struct hm_config *hm_build(const struct acl_set *acls, const char *lines);
/* The error of one line that must be refused. */
const char *hm_error(const struct acl_set *acls, const char *line);
/* Value of a recorded reply field, NULL when absent. */
const char *fake_reply_hdr(const struct filter_stream *fs, const char *name);

#endif
