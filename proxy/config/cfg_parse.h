/*
 * cfg_parse.h: the HAProxy-syntax configuration file, compiled into the model.
 *
 * Sections global, defaults, frontend, backend, listen; HAProxy's quoting and
 * escaping (backslash, "weak" double quotes with $VAR / ${VAR} expansion,
 * 'strong' single quotes), `#` comments, and (a tern extension HAProxy lacks)
 * a backslash at the very end of a line continues it on the next one.
 *
 * A keyword tern supports means what it means in HAProxy 2.6, with its
 * defaults. Every problem is reported as "FILE:LINE: <keyword>: <what is
 * wrong>" (with a hint where one helps), all of them, not just the first.
 * HAProxy's syntax never leaks past this module: the result is a snapshot of
 * the protocol-neutral model (model_types.h), not yet runtime-initialised.
 * In it, every listener has at least one bind address, every
 * default_cluster is one of the snapshot's clusters (or NULL: no
 * default_backend), and timeout client/connect/server are never 0: where the
 * file sets none, tern applies 5m/5s/5m (see cfg_parse.c) with a warning.
 * A file without any frontend or listen is an error (HAProxy refuses to start
 * without a listener too).
 *
 * Thread: main thread (or any single thread: no global state).
 */
#ifndef TERN_CFG_PARSE_H
#define TERN_CFG_PARSE_H

#include <stddef.h>

struct snapshot;

/* Diagnostics collected while parsing; each message is one complete line
 * without a trailing newline, "FILE:LINE: keyword: message". */
struct cfg_diag {
    char **errors;
    size_t nerrors;
    char **warnings;
    size_t nwarnings;
};

/* Appends a formatted message (any thread-confined diag). */
void cfg_diag_error(struct cfg_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cfg_diag_warning(struct cfg_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Frees the messages; the struct itself is the caller's. */
void cfg_diag_free(struct cfg_diag *d);

/*
 * Parses `len` bytes of configuration text named `name` (used in messages).
 * The text need not be NUL-terminated and may contain any bytes.
 * Returns a new snapshot (refcount 1, owned by the caller) when there is no
 * error, or NULL when d->nerrors > 0. Warnings never fail the parse.
 */
struct snapshot *cfg_parse_buffer(const char *name, const char *text, size_t len,
                                  struct cfg_diag *d);

/* Reads and parses a file; an unreadable file is one error "FILE: ...". */
struct snapshot *cfg_parse_file(const char *path, struct cfg_diag *d);
/* Reads a configuration file whole (regular file, pipe or /dev/stdin; at
 * most 64 MiB) into *out (caller frees; *outlen bytes, not NUL-terminated).
 * Returns 0, or -1 with "<path>: why" in err. */
int cfg_read_text(const char *path, char **out, size_t *outlen, char *err, size_t errlen);

#endif /* TERN_CFG_PARSE_H */
