/* SPDX-License-Identifier: BSD-3-Clause */
/* The WAL's status as admin-socket JSON and as Prometheus families (wal_report.c). */
#ifndef PX_WAL_REPORT_H
#define PX_WAL_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "wal_cp.h"

json_t *wal_status_json(const struct cp_wal_status *st);
void wal_metrics(FILE *f, const struct cp_wal_status *st);

#endif
