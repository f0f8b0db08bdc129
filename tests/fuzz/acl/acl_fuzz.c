/*
 * acl_fuzz.c: libFuzzer target for the ACL engine's parsers (acl lines and
 * if/unless conditions, including regexes, CIDRs and integer ranges) and for
 * evaluating what they accept against a fixed request.
 *
 * Input: text lines, words separated by spaces (the config tokenizer has its
 * own fuzzer). A line "acl <name> <words...>" adds to the set; a line starting
 * with "if" or "unless" is parsed as a condition over the set so far and, when
 * accepted, evaluated against a request and a response. Errors are expected
 * and fine; crashes, leaks and sanitizer reports are not.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/acl/acl.h"
#include "proxy/http/http_msg.h"

#define MAX_WORDS 64
#define MAX_LINE 4096

static struct http_hdr req_hdrs[] = {
    {HTTP_STR("Host"), HTTP_STR("www.example.com:8080")},
    {HTTP_STR("User-Agent"), HTTP_STR("curl/7.88.1")},
    {HTTP_STR("Accept"), HTTP_STR("text/html, application/json;q=0.9, */*")},
    {HTTP_STR("X-Forwarded-For"), HTTP_STR("10.1.2.3, [2001:db8::1]:443")},
    {HTTP_STR("Content-Length"), HTTP_STR("42")},
    {HTTP_STR("Cookie"), HTTP_STR("a=1; b=\"x,y\"")},
};

static struct http_hdr res_hdrs[] = {
    {HTTP_STR("Content-Type"), HTTP_STR("text/plain")},
    {HTTP_STR("Set-Cookie"), HTTP_STR("s=1, t=2")},
};

static void run_line(struct acl_set *set, char *line, const struct acl_ctx *ctx)
{
    char *words[MAX_WORDS];
    int n = 0;
    char err[256];

    for (char *w = strtok(line, " \t"); w && n < MAX_WORDS; w = strtok(NULL, " \t"))
        words[n++] = w;
    if (n == 0)
        return;
    if (strcmp(words[0], "acl") == 0 && n >= 2) {
        acl_set_add(set, words[1], n - 2, words + 2, err, sizeof(err));
    } else if (strcmp(words[0], "if") == 0 || strcmp(words[0], "unless") == 0) {
        struct acl_cond *cond = NULL;
        if (acl_cond_parse(set, n, words, &cond, err, sizeof(err)) == 0 && cond) {
            acl_cond_check(cond, ACL_WHERE_REQUEST, err, sizeof(err));
            (void)acl_cond_eval(cond, ctx);
            acl_cond_free(cond);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_msg req = {0}, res = {0};
    struct sockaddr_in6 src = {0};
    struct sockaddr_in dst = {0};
    struct acl_ctx ctx;
    struct acl_set *set;
    char line[MAX_LINE + 1];
    size_t start = 0;

    req.kind = HTTP_MSG_REQUEST;
    req.version = 11;
    req.method = HTTP_M_GET;
    req.method_str = HTTP_STR("GET");
    req.path = HTTP_STR("/api/v1/users/42.json");
    req.query = HTTP_STR("id=7&name=a%20b&id=8");
    req.authority = HTTP_STR("www.example.com:8080");
    req.hdrs = req_hdrs;
    req.nhdrs = req.cap = sizeof(req_hdrs) / sizeof(req_hdrs[0]);
    res.kind = HTTP_MSG_RESPONSE;
    res.version = 11;
    res.status = 503;
    res.hdrs = res_hdrs;
    res.nhdrs = res.cap = sizeof(res_hdrs) / sizeof(res_hdrs[0]);
    src.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:192.168.1.20", &src.sin6_addr);
    dst.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    dst.sin_port = htons(8080);
    ctx = (struct acl_ctx){&req, NULL, (struct sockaddr *)&src, (struct sockaddr *)&dst};

    acl_thread_prepare();
    set = acl_set_new();
    for (size_t i = 0; i <= size; i++) {
        if (i == size || data[i] == '\n') {
            size_t len = i - start;
            if (len > MAX_LINE)
                len = MAX_LINE;
            memcpy(line, data + start, len);
            line[len] = 0;
            /* a NUL inside a line ends it, as it would a C string */
            run_line(set, line, &ctx);
            ctx.res = (ctx.res ? NULL : &res); /* alternate request/response views */
            start = i + 1;
        }
    }
    acl_set_free(set);
    return 0;
}
