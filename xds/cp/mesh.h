/*
 * mesh.h: loading a mesh file into a model, and looking things up in it.
 *
 * Thread: main thread (any thread, no shared state).
 */
#ifndef TERNCP_MESH_H
#define TERNCP_MESH_H

#include <stddef.h>

#include "xds/cp/mesh_types.h"

#define MESH_FILE_MAX (1 << 20)   /* bytes; a larger file is refused */

/*
 * Parses `len` bytes of YAML named `fname` (for messages) into a new model.
 * Returns the model (caller owns; mesh_model_free) or NULL with the first
 * error written to err as "FILE:LINE: key: message". Nothing partial is
 * returned.
 */
struct mesh_model *mesh_parse(const char *fname, const char *data, size_t len,
			      char *err, size_t errlen);

/* Reads and parses a file; same contract as mesh_parse (I/O errors too). */
struct mesh_model *mesh_load_file(const char *path, char *err, size_t errlen);

void mesh_model_free(struct mesh_model *m);

/* The service of that name, or NULL (binary search). */
const struct mesh_service *mesh_find_service(const struct mesh_model *m, const char *name);

/* The service whose token is `token`, or NULL. Constant-time per comparison. */
const struct mesh_service *mesh_find_by_token(const struct mesh_model *m, const char *token);

/* Parses "HOST:PORT" / "[V6]:PORT" into a (arena-owned host). 0 or -1. */
int mesh_parse_addr(struct arena *a, const char *s, struct mesh_addr *out);

/* Parses "250ms", "2s", "1m", "1h" (integer and unit) into milliseconds.
 * 0 or -1 (no unit, overflow past a day, garbage). */
int mesh_parse_duration_ms(const char *s, uint32_t *ms);

#endif
