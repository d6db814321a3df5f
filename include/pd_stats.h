/*
 * pd_stats.h - print windows' counters and the milter's health for
 * "patchdigest stats", as JSON ({"milter":{...}|null,"lists":[...]}, the
 * format of the stats command) or as text for people.
 *
 *   pd_stats_json(&buf, windows, n, milter, now);    milter NULL: no status file
 *   pd_stats_text(&buf, windows, n, milter, now);
 *   pd_stats_prometheus(&buf, windows, n, milter, now);
 */
#ifndef PD_STATS_H
#define PD_STATS_H

#include "pd_status.h"
#include "pd_store.h"
#include "pd_util.h"

int pd_stats_json(pd_buf *out, const struct pd_window *w, size_t n,
                  const struct pd_status *milter, int64_t now);
int pd_stats_text(pd_buf *out, const struct pd_window *w, size_t n,
                  const struct pd_status *milter, int64_t now);
/* Prometheus' text format: the milter's health, then per list (label
 * list="<id>") the open window's number and counters. */
int pd_stats_prometheus(pd_buf *out, const struct pd_window *w, size_t n,
                        const struct pd_status *milter, int64_t now);
/* Append s as a JSON string literal (s is UTF-8). */
int pd_json_string(pd_buf *out, const char *s);

#endif
