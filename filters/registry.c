/*
 * registry.c: the filters tern ships, by name and by xDS type URL.
 *
 * `builtin` below is the whole list: adding a filter to tern is adding its
 * ops table here (and its library to //filters:registry). The registry is a
 * small fixed array filled on the main thread before any configuration is
 * parsed; lookups are linear (a handful of names, configuration time only).
 */
#include "filters/registry.h"

#include <stdbool.h>
#include <string.h>

#include "filters/http/access_log/access_log.h"
#include "filters/http/rate_limit/rate_limit.h"
#include "filters/http/rbac/rbac.h"
#include "filters/http/retry/retry.h"

static const struct http_filter_ops *const builtin[] = {
    &rate_limit_filter,
    &retry_filter,
    &access_log_filter,
    &rbac_filter,
};

static const struct http_filter_ops *reg[FILTER_REGISTRY_MAX];
static size_t nreg;
static bool initialized;

static int add(const struct http_filter_ops *ops)
{
    if (!ops || !ops->name || !ops->name[0] || nreg == FILTER_REGISTRY_MAX)
        return -1;
    for (size_t i = 0; i < nreg; i++) {
        if (strcmp(reg[i]->name, ops->name) == 0)
            return -1;
        if (ops->type_url && reg[i]->type_url && strcmp(reg[i]->type_url, ops->type_url) == 0)
            return -1;
    }
    reg[nreg++] = ops;
    return 0;
}

void filter_registry_init(void)
{
    if (initialized)
        return;
    initialized = true;
    for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
        add(builtin[i]);
}

int filter_register(const struct http_filter_ops *ops)
{
    filter_registry_init();
    return add(ops);
}

const struct http_filter_ops *filter_find(const char *name)
{
    filter_registry_init();
    if (!name)
        return NULL;
    for (size_t i = 0; i < nreg; i++)
        if (strcmp(reg[i]->name, name) == 0)
            return reg[i];
    return NULL;
}

const struct http_filter_ops *filter_find_by_type_url(const char *type_url)
{
    filter_registry_init();
    if (!type_url)
        return NULL;
    for (size_t i = 0; i < nreg; i++)
        if (reg[i]->type_url && strcmp(reg[i]->type_url, type_url) == 0)
            return reg[i];
    return NULL;
}

size_t filter_count(void)
{
    filter_registry_init();
    return nreg;
}

const struct http_filter_ops *filter_at(size_t i)
{
    filter_registry_init();
    return i < nreg ? reg[i] : NULL;
}

/* The network filters (mode tcp): a separate, smaller table. */
static const struct network_filter_ops *const builtin_network[] = {
    &rbac_network_filter,
};

const struct network_filter_ops *network_filter_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof(builtin_network) / sizeof(builtin_network[0]); i++)
        if (strcmp(builtin_network[i]->name, name) == 0)
            return builtin_network[i];
    return NULL;
}
