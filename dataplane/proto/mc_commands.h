/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The memcached command set Pollux understands, defined once as an X-macro.
 * The command enum, the name table the parser matches against and the small
 * per-command properties (kind, argument count bounds, data block) are all
 * derived from MC_COMMANDS so that adding a command is a one-line change.
 * Nothing here parses or executes anything.
 */
#ifndef PX_MC_COMMANDS_H
#define PX_MC_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>

enum mc_cmd_kind {
	MC_KIND_NONE = 0,
	MC_KIND_RETRIEVAL, /* get gets gat gats: many keys, END-terminated reply */
	MC_KIND_STORAGE,   /* set add replace append prepend cas: data block follows */
	MC_KIND_ARITH,     /* incr decr */
	MC_KIND_TOUCH,     /* touch */
	MC_KIND_DELETE,    /* delete */
	MC_KIND_ADMIN,     /* flush_all version verbosity cache_memlimit stats quit */
	MC_KIND_META,      /* mg ms md ma mn me */
};

/* Upper bound on arguments meaning "any number" (bounded by the line length). */
#define MC_ARGS_ANY 0xffff

/*
 * X(id, name, kind, min_args, max_args). Arguments exclude the command word.
 * A line whose argument count is outside [min, max] gets "ERROR", as in
 * memcached (proto_text.c WANT_TOKENS*). "me" takes 0 so that its missing
 * key is reported as a CLIENT_ERROR, again like memcached.
 */
#define MC_COMMANDS(X) \
	X(GET,       "get",       MC_KIND_RETRIEVAL, 1, MC_ARGS_ANY) \
	X(GETS,      "gets",      MC_KIND_RETRIEVAL, 1, MC_ARGS_ANY) \
	X(GAT,       "gat",       MC_KIND_RETRIEVAL, 1, MC_ARGS_ANY) \
	X(GATS,      "gats",      MC_KIND_RETRIEVAL, 1, MC_ARGS_ANY) \
	X(SET,       "set",       MC_KIND_STORAGE,   4, 5) \
	X(ADD,       "add",       MC_KIND_STORAGE,   4, 5) \
	X(REPLACE,   "replace",   MC_KIND_STORAGE,   4, 5) \
	X(APPEND,    "append",    MC_KIND_STORAGE,   4, 5) \
	X(PREPEND,   "prepend",   MC_KIND_STORAGE,   4, 5) \
	X(CAS,       "cas",       MC_KIND_STORAGE,   5, 6) \
	X(INCR,      "incr",      MC_KIND_ARITH,     2, 3) \
	X(DECR,      "decr",      MC_KIND_ARITH,     2, 3) \
	X(TOUCH,     "touch",     MC_KIND_TOUCH,     2, 3) \
	X(DELETE,    "delete",    MC_KIND_DELETE,    1, 3) \
	X(FLUSH_ALL, "flush_all", MC_KIND_ADMIN,     0, 2) \
	X(VERSION,   "version",   MC_KIND_ADMIN,     0, MC_ARGS_ANY) \
	X(VERBOSITY, "verbosity", MC_KIND_ADMIN,     1, 2) \
	X(CACHE_MEMLIMIT, "cache_memlimit", MC_KIND_ADMIN, 1, 2) \
	X(STATS,     "stats",     MC_KIND_ADMIN,     0, MC_ARGS_ANY) \
	X(QUIT,      "quit",      MC_KIND_ADMIN,     0, MC_ARGS_ANY) \
	X(MG,        "mg",        MC_KIND_META,      1, MC_ARGS_ANY) \
	X(MS,        "ms",        MC_KIND_META,      1, MC_ARGS_ANY) \
	X(MD,        "md",        MC_KIND_META,      1, MC_ARGS_ANY) \
	X(MA,        "ma",        MC_KIND_META,      1, MC_ARGS_ANY) \
	X(MN,        "mn",        MC_KIND_META,      0, MC_ARGS_ANY) \
	X(ME,        "me",        MC_KIND_META,      0, MC_ARGS_ANY)

enum mc_cmd {
	MC_CMD_NONE = 0,
#define MC_X_ENUM(id, name, kind, lo, hi) MC_CMD_##id,
	MC_COMMANDS(MC_X_ENUM)
#undef MC_X_ENUM
	MC_CMD_COUNT,
};

struct mc_cmd_info {
	const char *name;
	unsigned char name_len;
	enum mc_cmd_kind kind;
	unsigned short min_args;
	unsigned short max_args;
};

/* Indexed by enum mc_cmd; entry MC_CMD_NONE has a NULL name. */
extern const struct mc_cmd_info mc_cmd_table[MC_CMD_COUNT];

/* The protocol name of a command ("get"), or NULL for an invalid value. */
static inline const char *mc_cmd_name(enum mc_cmd c)
{
	return (unsigned)c < MC_CMD_COUNT ? mc_cmd_table[c].name : NULL;
}

static inline enum mc_cmd_kind mc_cmd_kind(enum mc_cmd c)
{
	return (unsigned)c < MC_CMD_COUNT ? mc_cmd_table[c].kind : MC_KIND_NONE;
}

/* True when a data block (<bytes> then "\r\n") follows the command line. */
static inline bool mc_cmd_has_data(enum mc_cmd c)
{
	return mc_cmd_kind(c) == MC_KIND_STORAGE || c == MC_CMD_MS;
}

/* Look a command word up; MC_CMD_NONE when it is not one (case-sensitive). */
enum mc_cmd mc_cmd_lookup(const char *word, size_t len);

#endif
