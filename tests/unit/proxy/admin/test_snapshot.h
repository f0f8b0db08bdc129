/*
 * test_snapshot.h: a runtime-initialised snapshot for the admin page tests,
 * with names that need escaping and known per-worker counter values.
 *
 *   frontend  `fe"main\`  (quote and backslash)   2 workers
 *   frontend  "fe2"
 *   backend   "be\napp"   (a newline)  servers "s1" (up), "s2" (down),
 *                                      "bk" (backup, up), "off" (disabled)
 */
#ifndef TERN_TEST_ADMIN_SNAPSHOT_H
#define TERN_TEST_ADMIN_SNAPSHOT_H

#include "proxy/model/model.h"

#define TS_FE_NAME "fe\"main\\"
#define TS_BE_NAME "be\napp"

struct snapshot *test_snapshot_new(void);

/* Drops the worker slots' host-set references (what each worker does when
 * it exits) and the snapshot. */
void test_snapshot_free(struct snapshot *snap);

#endif
