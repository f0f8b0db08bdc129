/*
 * arena.h: a bump allocator for short-lived object graphs.
 *
 * tern-cp builds each xDS resource as a tree of protobuf-c structs, packs it
 * and throws the tree away; the mesh model is a tree of strings and arrays
 * built once per file load. Both are freed in one call instead of node by
 * node. Allocation failure aborts (our own memory: see DESIGN "error policy").
 *
 * Thread: an arena belongs to one thread at a time.
 */
#ifndef TERNCP_ARENA_H
#define TERNCP_ARENA_H

#include <stddef.h>

struct arena_block;

struct arena {
	struct arena_block *head;   /* newest block first */
	size_t used;                /* bytes used in head */
	size_t total;               /* bytes handed out, for diagnostics */
};

/* Zeroes *a; no allocation until the first arena_alloc. */
void arena_init(struct arena *a);

/* Frees every block; *a may be reused after arena_init. */
void arena_free(struct arena *a);

/* Returns n zeroed bytes aligned for any object, owned by the arena. */
void *arena_alloc(struct arena *a, size_t n);

/* Copies the NUL-terminated s (or the first n bytes of s, then NUL). */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);

/* printf into the arena. */
char *arena_printf(struct arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A zeroed protobuf-c message of the given type: ARENA_MSG(a, T, init)
 * allocates a T and runs init(T *) on it (the generated *__init). */
#define ARENA_MSG(a, type, init) \
	({ type *m_ = arena_alloc((a), sizeof(type)); init(m_); m_; })

/* An array of n pointers. */
#define ARENA_PTRS(a, type, n) ((type **)arena_alloc((a), sizeof(type *) * ((n) ? (n) : 1)))

#endif
