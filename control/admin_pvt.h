/* SPDX-License-Identifier: BSD-3-Clause */
/* The admin socket's internals, shared by control/admin.c and control/admin_cmd.c. */
#ifndef PX_ADMIN_PVT_H
#define PX_ADMIN_PVT_H

#include <jansson.h>
#include <stddef.h>

#include "cp.h"

#define ADMIN_LINE_MAX (64u << 10)   /* longest request line, bytes */
#define ADMIN_CLIENTS_MAX 8          /* clients served at once */
#define ADMIN_TIMEOUT_S 2            /* idle read / stalled write, seconds */

/*
 * One request line (without its newline, len bytes, not NUL-terminated) to
 * one reply object, which the caller owns. Never NULL unless out of memory.
 * May wait up to 2 s (config_set, flush wait for the dataplane).
 */
json_t *admin_handle(struct cp *cp, const char *line, size_t len);
/* {"ok":false,"error":msg}, with extra's "code" when it has one. */
json_t *admin_error(const char *msg, const json_t *extra);

#endif
