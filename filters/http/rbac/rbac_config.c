/*
 * rbac_config.c: `filter rbac ...` arguments into a struct rbac_config.
 *
 *   [shadow] [default allow|deny] policy <name> allow|deny <matcher>... [policy ...]
 *
 * Matchers (principals, then permissions; see rbac.h for the semantics):
 *   spiffe-id <uri> | spiffe-prefix <prefix> | trust-domain <td> |
 *   authenticated | src <addr>[/<len>] |
 *   dst-port <port> | method <m> | path <p> | path-prefix <p> | hdr <name> <value>
 *
 * Strict: unknown words, duplicate policy names, a policy without a
 * matcher-free action, a bad CIDR or port, an HTTP matcher in mode tcp are
 * errors naming the word. Everything is allocated here, once.
 */
#include "filters/http/rbac/rbac.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static char *dup_str(const char *s, size_t *len)
{
    size_t n = strlen(s);
    char *p = malloc(n + 1);

    if (p)
        memcpy(p, s, n + 1);
    if (len)
        *len = n;
    return p;
}

static void matcher_free(struct rbac_matcher *m)
{
    free(m->s);
    free(m->name);
}

void rbac_config_free(void *cfg)
{
    struct rbac_config *c = cfg;

    if (!c)
        return;
    for (uint32_t i = 0; i < c->npolicies; i++) {
        struct rbac_policy *p = &c->policies[i];
        for (uint32_t j = 0; j < p->nprincipals; j++)
            matcher_free(&p->principals[j]);
        for (uint32_t j = 0; j < p->npermissions; j++)
            matcher_free(&p->permissions[j]);
        free(p->principals);
        free(p->permissions);
        free(p->name);
    }
    free(c->policies);
    free(c);
}

/* <addr>[/<len>], IPv4 or IPv6; host bits must be zero (as Envoy's CidrRange
 * would silently mask them, a typo here would widen a rule: refuse it). */
static int parse_cidr(const char *s, struct rbac_matcher *m, char *err, size_t errlen)
{
    char buf[INET6_ADDRSTRLEN + 8];
    char *slash;
    long len;
    unsigned max;

    if (strlen(s) >= sizeof(buf)) {
        snprintf(err, errlen, "src: '%s' is not an address", s);
        return -1;
    }
    strcpy(buf, s);
    slash = strchr(buf, '/');
    if (slash)
        *slash++ = 0;
    if (inet_pton(AF_INET, buf, m->addr) == 1) {
        m->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, m->addr) == 1) {
        m->family = AF_INET6;
        max = 128;
    } else {
        snprintf(err, errlen, "src: '%s' is not an IPv4 or IPv6 address", s);
        return -1;
    }
    len = max;
    if (slash) {
        char *end;
        errno = 0;
        len = strtol(slash, &end, 10);
        if (!*slash || *end || errno || len < 0 || len > (long)max) {
            snprintf(err, errlen, "src: bad prefix length in '%s' (0..%u)", s, max);
            return -1;
        }
    }
    m->prefix_len = (uint8_t)len;
    for (unsigned bit = (unsigned)len; bit < max; bit++) {
        if (m->addr[bit / 8] & (0x80u >> (bit % 8))) {
            snprintf(err, errlen, "src: '%s' has bits set past the prefix length", s);
            return -1;
        }
    }
    return 0;
}

static bool valid_trust_domain(const char *s)
{
    /* SPIFFE: lower-case letters, digits, '.', '-', '_' */
    if (!*s)
        return false;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '.' ||
              *s == '-' || *s == '_'))
            return false;
    return true;
}

static const struct {
    const char *word;
    enum rbac_kind kind;
    int nargs;        /* values after the word */
    bool http_only;
} kinds[] = {
    {"spiffe-id", RBAC_P_SPIFFE_ID, 1, false},
    {"spiffe-prefix", RBAC_P_SPIFFE_PREFIX, 1, false},
    {"trust-domain", RBAC_P_TRUST_DOMAIN, 1, false},
    {"authenticated", RBAC_P_AUTHENTICATED, 0, false},
    {"src", RBAC_P_SRC, 1, false},
    {"dst-port", RBAC_Q_DST_PORT, 1, false},
    {"method", RBAC_Q_METHOD, 1, true},
    {"path", RBAC_Q_PATH, 1, true},
    {"path-prefix", RBAC_Q_PATH_PREFIX, 1, true},
    {"hdr", RBAC_Q_HDR, 2, true},
};

static bool is_principal(enum rbac_kind k)
{
    return k <= RBAC_P_SRC;
}

/* One matcher at argv[*i] (the word), into policy p. Advances *i past it. */
static int parse_matcher(struct rbac_policy *p, int argc, char **argv, int *i, bool l4,
                         char *err, size_t errlen)
{
    const char *w = argv[*i];
    struct rbac_matcher m;
    size_t k;

    for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
        if (strcmp(w, kinds[k].word) == 0)
            break;
    if (k == sizeof(kinds) / sizeof(kinds[0])) {
        snprintf(err, errlen, "policy '%s': unknown matcher '%s' (spiffe-id, spiffe-prefix, "
                 "trust-domain, authenticated, src, dst-port, method, path, path-prefix, hdr)",
                 p->name, w);
        return -1;
    }
    if (*i + kinds[k].nargs >= argc) {
        snprintf(err, errlen, "policy '%s': %s needs %s", p->name, w,
                 kinds[k].nargs == 2 ? "a name and a value" : "a value");
        return -1;
    }
    if (l4 && kinds[k].http_only) {
        snprintf(err, errlen, "policy '%s': %s needs mode http (a mode tcp connection has no "
                 "request)", p->name, w);
        return -1;
    }
    if (!l4 && kinds[k].kind == RBAC_Q_DST_PORT) {
        /* The HTTP filter API does not expose the connection's local
         * address yet: refuse rather than never match. */
        snprintf(err, errlen, "policy '%s': dst-port is only available in mode tcp for now",
                 p->name);
        return -1;
    }
    memset(&m, 0, sizeof(m));
    m.kind = kinds[k].kind;
    switch (m.kind) {
    case RBAC_P_SPIFFE_ID:
    case RBAC_P_SPIFFE_PREFIX:
        if (strncmp(argv[*i + 1], "spiffe://", 9) != 0) {
            snprintf(err, errlen, "policy '%s': %s '%s' does not start with spiffe://", p->name,
                     w, argv[*i + 1]);
            return -1;
        }
        m.s = dup_str(argv[*i + 1], &m.len);
        break;
    case RBAC_P_TRUST_DOMAIN: {
        const char *td = argv[*i + 1];
        if (!valid_trust_domain(td)) {
            snprintf(err, errlen, "policy '%s': trust-domain '%s' is not a SPIFFE trust domain "
                     "(lower-case letters, digits, '.', '-', '_')", p->name, td);
            return -1;
        }
        /* kept as the prefix "spiffe://<td>/" */
        m.len = 9 + strlen(td) + 1;
        m.s = malloc(m.len + 1);
        if (m.s)
            snprintf(m.s, m.len + 1, "spiffe://%s/", td);
        break;
    }
    case RBAC_P_AUTHENTICATED:
        break;
    case RBAC_P_SRC:
        if (parse_cidr(argv[*i + 1], &m, err, errlen) != 0)
            return -1;
        break;
    case RBAC_Q_DST_PORT: {
        char *end;
        long v;
        errno = 0;
        v = strtol(argv[*i + 1], &end, 10);
        if (!argv[*i + 1][0] || *end || errno || v < 1 || v > 65535) {
            snprintf(err, errlen, "policy '%s': dst-port '%s' is not a port (1..65535)",
                     p->name, argv[*i + 1]);
            return -1;
        }
        m.port = (uint16_t)v;
        break;
    }
    case RBAC_Q_METHOD:
        for (const char *s = argv[*i + 1]; *s; s++) {
            if (!isupper((unsigned char)*s) && *s != '-' && *s != '_') {
                snprintf(err, errlen, "policy '%s': method '%s' is not an upper-case method "
                         "token", p->name, argv[*i + 1]);
                return -1;
            }
        }
        m.s = dup_str(argv[*i + 1], &m.len);
        break;
    case RBAC_Q_PATH:
    case RBAC_Q_PATH_PREFIX:
        if (argv[*i + 1][0] != '/') {
            snprintf(err, errlen, "policy '%s': %s '%s' does not start with '/'", p->name, w,
                     argv[*i + 1]);
            return -1;
        }
        m.s = dup_str(argv[*i + 1], &m.len);
        break;
    case RBAC_Q_HDR:
        if (!argv[*i + 1][0]) {
            snprintf(err, errlen, "policy '%s': hdr needs a field name", p->name);
            return -1;
        }
        m.name = dup_str(argv[*i + 1], &m.name_len);
        m.s = dup_str(argv[*i + 2], &m.len);
        break;
    }
    if (is_principal(m.kind)) {
        struct rbac_matcher *v = realloc(p->principals, (p->nprincipals + 1) * sizeof(*v));
        if (!v) {
            matcher_free(&m);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        p->principals = v;
        v[p->nprincipals++] = m;
    } else {
        struct rbac_matcher *v = realloc(p->permissions, (p->npermissions + 1) * sizeof(*v));
        if (!v) {
            matcher_free(&m);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        p->permissions = v;
        v[p->npermissions++] = m;
    }
    *i += 1 + kinds[k].nargs;
    return 0;
}

int rbac_config_parse_mode(int argc, char **argv, bool l4, void **cfg, char *err, size_t errlen)
{
    struct rbac_config *c;
    int i = 0;

    c = aligned_alloc(RBAC_CACHELINE, (sizeof(*c) + RBAC_CACHELINE - 1) / RBAC_CACHELINE *
                                          RBAC_CACHELINE);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memset(c, 0, sizeof(*c));
    c->l4 = l4;
    c->dflt = RBAC_ALLOW;

    while (i < argc && strcmp(argv[i], "policy") != 0) {
        if (strcmp(argv[i], "shadow") == 0) {
            c->shadow = true;
            i++;
        } else if (strcmp(argv[i], "default") == 0) {
            if (i + 1 >= argc ||
                (strcmp(argv[i + 1], "allow") != 0 && strcmp(argv[i + 1], "deny") != 0)) {
                snprintf(err, errlen, "default needs 'allow' or 'deny'");
                goto fail;
            }
            c->dflt = strcmp(argv[i + 1], "allow") == 0 ? RBAC_ALLOW : RBAC_DENY;
            i += 2;
        } else {
            snprintf(err, errlen, "unknown option '%s' (expected shadow, default or policy)",
                     argv[i]);
            goto fail;
        }
    }
    if (i >= argc) {
        snprintf(err, errlen, "no policy (usage: [shadow] [default allow|deny] policy <name> "
                 "allow|deny <matcher>...)");
        goto fail;
    }
    while (i < argc) {
        struct rbac_policy *p, *v;
        /* argv[i] is "policy" */
        if (i + 2 >= argc) {
            snprintf(err, errlen, "policy needs a name and 'allow' or 'deny'");
            goto fail;
        }
        if (c->npolicies == RBAC_MAX_POLICIES) {
            snprintf(err, errlen, "too many policies (at most %d)", RBAC_MAX_POLICIES);
            goto fail;
        }
        if (strcmp(argv[i + 1], RBAC_DEFAULT_POLICY_LABEL) == 0) {
            snprintf(err, errlen, "policy name '%s' is reserved (the default action's "
                     "counters)", argv[i + 1]);
            goto fail;
        }
        for (uint32_t j = 0; j < c->npolicies; j++) {
            if (strcmp(c->policies[j].name, argv[i + 1]) == 0) {
                snprintf(err, errlen, "policy '%s' is defined twice", argv[i + 1]);
                goto fail;
            }
        }
        if (strcmp(argv[i + 2], "allow") != 0 && strcmp(argv[i + 2], "deny") != 0) {
            snprintf(err, errlen, "policy '%s': expected 'allow' or 'deny', not '%s'",
                     argv[i + 1], argv[i + 2]);
            goto fail;
        }
        v = realloc(c->policies, (c->npolicies + 1) * sizeof(*v));
        if (!v) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        c->policies = v;
        p = &c->policies[c->npolicies++];
        memset(p, 0, sizeof(*p));
        p->name = dup_str(argv[i + 1], NULL);
        p->action = strcmp(argv[i + 2], "allow") == 0 ? RBAC_ALLOW : RBAC_DENY;
        i += 3;
        while (i < argc && strcmp(argv[i], "policy") != 0)
            if (parse_matcher(p, argc, argv, &i, l4, err, errlen) != 0)
                goto fail;
    }
    *cfg = c;
    return 0;

fail:
    rbac_config_free(c);
    return -1;
}
