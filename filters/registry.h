/*
 * registry.h: the set of HTTP filters tern ships, and the name/type-URL
 * lookups of filters/filter.h (filter_register, filter_find,
 * filter_find_by_type_url are implemented in registry.c).
 *
 * The set is an explicit static table in registry.c, not constructors: a
 * filter is part of tern when it is listed there. filter_registry_init()
 * registers that table; main() calls it at start-up, and every lookup calls
 * it too (once), so a tool or test that parses a configuration needs
 * nothing more.
 *
 * Thread: main thread only (start-up and configuration parsing). Workers
 * never look filters up: a listener's chain holds the ops pointers.
 */
#ifndef TERN_FILTERS_REGISTRY_H
#define TERN_FILTERS_REGISTRY_H

#include <stddef.h>

#include "filters/filter.h"
#include "filters/network_filter.h"

/* Most filters the registry holds (built-in and registered). */
#define FILTER_REGISTRY_MAX 64

/* Registers the built-in table (idempotent). */
void filter_registry_init(void);

/* How many filters are registered, and the i-th of them (registration
 * order; NULL past the end): the config parser lists them for a
 * did-you-mean. */
size_t filter_count(void);
const struct http_filter_ops *filter_at(size_t i);

#endif /* TERN_FILTERS_REGISTRY_H */
