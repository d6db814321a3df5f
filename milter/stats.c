/*
 * stats.c - format window counters as JSON or text.  See pd_stats.h.
 */
#include "pd_stats.h"
#include "pd_classify.h"

#include <stddef.h>
#include <stdio.h>

int pd_json_string(pd_buf *out, const char *s)
{
    if (pd_buf_putc(out, '"') < 0)
        return -1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int rc;
        switch (*p) {
        case '"': rc = pd_buf_puts(out, "\\\""); break;
        case '\\': rc = pd_buf_puts(out, "\\\\"); break;
        case '\n': rc = pd_buf_puts(out, "\\n"); break;
        case '\r': rc = pd_buf_puts(out, "\\r"); break;
        case '\t': rc = pd_buf_puts(out, "\\t"); break;
        default:
            rc = *p < 0x20 || *p == 0x7f ? pd_buf_printf(out, "\\u%04x", *p)
                                          : pd_buf_putc(out, (char)*p);
        }
        if (rc < 0)
            return -1;
    }
    return pd_buf_putc(out, '"');
}

static int table_json(pd_buf *out, const struct pd_table *t)
{
    if (pd_buf_putc(out, '{') < 0)
        return -1;
    for (size_t i = 0; i < t->n; i++)
        if ((i && pd_buf_putc(out, ',') < 0) || pd_json_string(out, t->rows[i].label) < 0 ||
            pd_buf_printf(out, ":%lld", t->rows[i].count) < 0)
            return -1;
    return pd_buf_putc(out, '}');
}

static int window_json(pd_buf *out, const struct pd_window *w)
{
    if (pd_buf_puts(out, "{\"list\":") < 0 || pd_json_string(out, w->list->id) < 0 ||
        pd_buf_puts(out, ",\"name\":") < 0 || pd_json_string(out, w->list->name) < 0 ||
        pd_buf_printf(out, ",\"window\":%lld,\"from\":\"%.9s\",\"to\":\"%.9s\"", w->number,
                      w->from, w->to) < 0 ||
        pd_buf_printf(out, ",\"mails\":%lld,\"duplicates\":%lld,\"resends\":%lld,\"truncated\":%lld",
                      w->mails, w->duplicates, w->resends, w->truncated) < 0 ||
        /* outcomes: patches applied by notices, review trailers given */
        pd_buf_printf(out, ",\"applied\":%lld,\"trailers\":%lld", w->applied, w->trailers) < 0 ||
        pd_buf_puts(out, ",\"classes\":{") < 0)
        return -1;
    for (int c = 0; c < PD_NCLASSES; c++)
        if (pd_buf_printf(out, "%s\"%s\":%lld", c ? "," : "", pd_class_name(c), w->classes[c]) < 0)
            return -1;
    if (pd_buf_puts(out, "},\"domains\":") < 0 || table_json(out, &w->domains) < 0 ||
        pd_buf_puts(out, ",\"contributors\":") < 0 || table_json(out, &w->contributors) < 0 ||
        pd_buf_puts(out, ",\"reviewers\":") < 0 || table_json(out, &w->reviewers) < 0)
        return -1;
    return pd_buf_putc(out, '}');
}

int pd_stats_json(pd_buf *out, const struct pd_window *w, size_t n,
                  const struct pd_status *milter, int64_t now)
{
    if (pd_buf_puts(out, "{\"milter\":") < 0 ||
        (milter ? pd_status_json(out, milter, now) : pd_buf_puts(out, "null")) < 0 ||
        pd_buf_puts(out, ",\"lists\":[") < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((i && pd_buf_putc(out, ',') < 0) || window_json(out, &w[i]) < 0)
            return -1;
    return pd_buf_puts(out, "]}\n");
}

static int table_text(pd_buf *out, const char *title, const struct pd_table *t)
{
    if (pd_buf_printf(out, "\n  %s:\n", title) < 0)
        return -1;
    for (size_t i = 0; i < t->n; i++)
        if (pd_buf_printf(out, "  %7lld  %s\n", t->rows[i].count, t->rows[i].label) < 0)
            return -1;
    return 0;
}

int pd_stats_text(pd_buf *out, const struct pd_window *w, size_t n,
                  const struct pd_status *milter, int64_t now)
{
    if ((milter ? pd_status_text(out, milter, now)
                : pd_buf_puts(out, "milter: no status file (not running on this host?)\n")) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const struct pd_window *x = &w[i];
        if (pd_buf_printf(out, "\n%s (%s): window %lld, from %.9s to %.9s\n",
                          x->list->name, x->list->id, x->number, x->from, x->to) < 0 ||
            pd_buf_printf(out, "  %lld mails, %lld duplicates, %lld resends, %lld truncated\n",
                          x->mails, x->duplicates, x->resends, x->truncated) < 0 ||
            /* outcomes */
            pd_buf_printf(out, "  %lld patches applied, %lld review trailers\n", x->applied,
                          x->trailers) < 0 ||
            pd_buf_puts(out, " ") < 0)
            return -1;
        for (int c = 0; c < PD_NCLASSES; c++)
            if (pd_buf_printf(out, " %s %lld", pd_class_name(c), x->classes[c]) < 0)
                return -1;
        if (pd_buf_putc(out, '\n') < 0 || table_text(out, "domains", &x->domains) < 0 ||
            table_text(out, "contributors", &x->contributors) < 0 ||
            table_text(out, "reviewers", &x->reviewers) < 0)
            return -1;
    }
    return 0;
}

/* A Prometheus label value: backslash, double quote and newline escaped. */
static int prom_label(pd_buf *out, const char *s)
{
    for (; *s; s++) {
        int rc = *s == '\\' ? pd_buf_puts(out, "\\\\")
               : *s == '"'  ? pd_buf_puts(out, "\\\"")
               : *s == '\n' ? pd_buf_puts(out, "\\n")
                            : pd_buf_putc(out, *s);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int prom_window_metric(pd_buf *out, const struct pd_window *w, size_t n, const char *name,
                              const char *type, const char *help, size_t field)
{
    if (pd_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        long long v = *(const long long *)((const char *)&w[i] + field);
        if (pd_buf_printf(out, "%s{list=\"", name) < 0 || prom_label(out, w[i].list->id) < 0 ||
            pd_buf_printf(out, "\"} %lld\n", v) < 0)
            return -1;
    }
    return 0;
}

int pd_stats_prometheus(pd_buf *out, const struct pd_window *w, size_t n,
                        const struct pd_status *milter, int64_t now)
{
    if (pd_status_prometheus(out, milter, now) < 0)
        return -1;
    static const struct {
        const char *name, *help;
        size_t field;
    } m[] = {
        { "patchdigest_window", "Number of the open window.", offsetof(struct pd_window, number) },
        { "patchdigest_window_mails", "Mails in the open window.",
          offsetof(struct pd_window, mails) },
        { "patchdigest_window_duplicates", "Deliveries of known Message-IDs in the open window.",
          offsetof(struct pd_window, duplicates) },
        { "patchdigest_window_resends", "Resent patches and covers in the open window.",
          offsetof(struct pd_window, resends) },
        { "patchdigest_window_truncated", "Truncated mails in the open window.",
          offsetof(struct pd_window, truncated) },
        /* outcomes */
        { "patchdigest_window_applied", "Patches applied by notices in the open window.",
          offsetof(struct pd_window, applied) },
        { "patchdigest_window_trailers", "Review trailers given in replies in the open window.",
          offsetof(struct pd_window, trailers) },
    };
    for (size_t k = 0; k < sizeof m / sizeof m[0]; k++)
        if (prom_window_metric(out, w, n, m[k].name, "gauge", m[k].help, m[k].field) < 0)
            return -1;
    if (pd_buf_puts(out, "# HELP patchdigest_window_class_mails Mails of each class in the "
                         "open window.\n# TYPE patchdigest_window_class_mails gauge\n") < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < PD_NCLASSES; c++)
            if (pd_buf_puts(out, "patchdigest_window_class_mails{list=\"") < 0 ||
                prom_label(out, w[i].list->id) < 0 ||
                pd_buf_printf(out, "\",class=\"%s\"} %lld\n", pd_class_name(c),
                              w[i].classes[c]) < 0)
                return -1;
    return 0;
}
