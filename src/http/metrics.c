/* Fixed status slots and latency buckets keep every update O(1) and atomic.
 * Routes that share a method and a name (the same endpoint under two
 * patterns) share one series: Prometheus rejects a series given twice. */
#include "http/metrics.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

static const int statuses[] = {200, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 431,
                               499, 500, 502, 503, 0 /* other */};
#define N_STATUS (sizeof(statuses) / sizeof(statuses[0]))
static const double buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                 0.5,   1,     2.5,  5,     10,   30,  60};
#define N_BUCKET (sizeof(buckets) / sizeof(buckets[0]))

struct route_metrics {
    uint64_t by_status[N_STATUS];
    uint64_t bucket[N_BUCKET + 1];
    uint64_t count;
    uint64_t sum_us;
};

struct metrics {
    size_t n;       /* routes */
    size_t n_slots; /* distinct (method, name), then "unmatched" */
    size_t *slot_of;
    const char **slot_name, **slot_method;
    struct route_metrics r[];
};

struct metrics *metrics_new(const char *const *names, const char *const *methods, size_t n)
{
    struct metrics *m = calloc(1, sizeof(*m) + (n + 1) * sizeof(struct route_metrics));
    if (!m)
        return NULL;
    m->n = n;
    m->slot_of = calloc(n + 1, sizeof(*m->slot_of));
    m->slot_name = calloc(n + 1, sizeof(*m->slot_name));
    m->slot_method = calloc(n + 1, sizeof(*m->slot_method));
    if (!m->slot_of || !m->slot_name || !m->slot_method) {
        metrics_free(m);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < m->n_slots &&
               (strcmp(m->slot_name[k], names[i]) || strcmp(m->slot_method[k], methods[i])))
            k++;
        if (k == m->n_slots) {
            m->slot_name[k] = names[i];
            m->slot_method[k] = methods[i];
            m->n_slots++;
        }
        m->slot_of[i] = k;
    }
    m->slot_name[m->n_slots] = "unmatched";
    m->slot_method[m->n_slots] = "";
    m->slot_of[n] = m->n_slots++;
    return m;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    free(m->slot_of);
    free(m->slot_name);
    free(m->slot_method);
    free(m);
}

static size_t status_slot(int status)
{
    for (size_t i = 0; i + 1 < N_STATUS; i++)
        if (statuses[i] == status)
            return i;
    return N_STATUS - 1;
}

void metrics_observe(struct metrics *m, size_t route, int status, double seconds)
{
    if (!m)
        return;
    if (route > m->n)
        route = m->n;
    struct route_metrics *r = &m->r[m->slot_of[route]];
    __atomic_add_fetch(&r->by_status[status_slot(status)], 1, __ATOMIC_RELAXED);
    size_t b = 0;
    while (b < N_BUCKET && seconds > buckets[b])
        b++;
    __atomic_add_fetch(&r->bucket[b], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&r->count, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&r->sum_us, (uint64_t)(seconds * 1e6), __ATOMIC_RELAXED);
}

/* route="name",method="GET" (no method for unmatched requests) */
static void labels(struct buf *out, const struct metrics *m, size_t i)
{
    if (*m->slot_method[i])
        buf_printf(out, "route=\"%s\",method=\"%s\"", m->slot_name[i], m->slot_method[i]);
    else
        buf_printf(out, "route=\"%s\"", m->slot_name[i]);
}

void metrics_render(struct metrics *m, struct buf *out)
{
    buf_puts(out, "# HELP libreair_http_requests_total HTTP requests by route and status.\n"
                  "# TYPE libreair_http_requests_total counter\n");
    for (size_t i = 0; i < m->n_slots; i++)
        for (size_t s = 0; s < N_STATUS; s++) {
            uint64_t v = __atomic_load_n(&m->r[i].by_status[s], __ATOMIC_RELAXED);
            if (!v)
                continue;
            buf_puts(out, "libreair_http_requests_total{");
            labels(out, m, i);
            if (statuses[s])
                buf_printf(out, ",status=\"%d\"} %llu\n", statuses[s], (unsigned long long)v);
            else
                buf_printf(out, ",status=\"other\"} %llu\n", (unsigned long long)v);
        }
    buf_puts(out, "# HELP libreair_http_request_duration_seconds Time to answer, by route.\n"
                  "# TYPE libreair_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < m->n_slots; i++) {
        struct route_metrics *r = &m->r[i];
        uint64_t count = __atomic_load_n(&r->count, __ATOMIC_RELAXED);
        if (!count)
            continue;
        uint64_t cum = 0;
        for (size_t b = 0; b <= N_BUCKET; b++) {
            cum += __atomic_load_n(&r->bucket[b], __ATOMIC_RELAXED);
            buf_puts(out, "libreair_http_request_duration_seconds_bucket{");
            labels(out, m, i);
            if (b < N_BUCKET)
                buf_printf(out, ",le=\"%g\"} %llu\n", buckets[b], (unsigned long long)cum);
            else
                buf_printf(out, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
        }
        buf_puts(out, "libreair_http_request_duration_seconds_sum{");
        labels(out, m, i);
        buf_printf(out, "} %.6f\n", (double)__atomic_load_n(&r->sum_us, __ATOMIC_RELAXED) / 1e6);
        buf_puts(out, "libreair_http_request_duration_seconds_count{");
        labels(out, m, i);
        buf_printf(out, "} %llu\n", (unsigned long long)count);
    }
}
