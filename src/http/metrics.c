/* Fixed status slots and latency buckets keep every update O(1) and atomic. */
#include "http/metrics.h"

#include <stdint.h>
#include <stdlib.h>

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
    const char *const *names;
    size_t n;
    struct route_metrics r[];
};

struct metrics *metrics_new(const char *const *names, size_t n)
{
    struct metrics *m = calloc(1, sizeof(*m) + (n + 1) * sizeof(struct route_metrics));
    if (m) {
        m->names = names;
        m->n = n;
    }
    return m;
}

void metrics_free(struct metrics *m) { free(m); }

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
    struct route_metrics *r = &m->r[route];
    __atomic_add_fetch(&r->by_status[status_slot(status)], 1, __ATOMIC_RELAXED);
    size_t b = 0;
    while (b < N_BUCKET && seconds > buckets[b])
        b++;
    __atomic_add_fetch(&r->bucket[b], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&r->count, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&r->sum_us, (uint64_t)(seconds * 1e6), __ATOMIC_RELAXED);
}

static const char *label(const struct metrics *m, size_t i)
{
    return i < m->n ? m->names[i] : "unmatched";
}

void metrics_render(struct metrics *m, struct buf *out)
{
    buf_puts(out, "# HELP libreair_http_requests_total HTTP requests by route and status.\n"
                  "# TYPE libreair_http_requests_total counter\n");
    for (size_t i = 0; i <= m->n; i++)
        for (size_t s = 0; s < N_STATUS; s++) {
            uint64_t v = __atomic_load_n(&m->r[i].by_status[s], __ATOMIC_RELAXED);
            if (!v)
                continue;
            if (statuses[s])
                buf_printf(out, "libreair_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                           label(m, i), statuses[s], (unsigned long long)v);
            else
                buf_printf(out,
                           "libreair_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
                           label(m, i), (unsigned long long)v);
        }
    buf_puts(out, "# HELP libreair_http_request_duration_seconds Time to answer, by route.\n"
                  "# TYPE libreair_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i <= m->n; i++) {
        struct route_metrics *r = &m->r[i];
        uint64_t count = __atomic_load_n(&r->count, __ATOMIC_RELAXED);
        if (!count)
            continue;
        uint64_t cum = 0;
        for (size_t b = 0; b <= N_BUCKET; b++) {
            cum += __atomic_load_n(&r->bucket[b], __ATOMIC_RELAXED);
            if (b < N_BUCKET)
                buf_printf(out,
                           "libreair_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} "
                           "%llu\n",
                           label(m, i), buckets[b], (unsigned long long)cum);
            else
                buf_printf(out,
                           "libreair_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"}"
                           " %llu\n",
                           label(m, i), (unsigned long long)cum);
        }
        buf_printf(out, "libreair_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
                   label(m, i), (double)__atomic_load_n(&r->sum_us, __ATOMIC_RELAXED) / 1e6);
        buf_printf(out, "libreair_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                   label(m, i), (unsigned long long)count);
    }
}
