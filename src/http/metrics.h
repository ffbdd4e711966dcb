/* Request counters and latency histograms per route, rendered in the
 * Prometheus text format. Lock-free: every update is an atomic add. */
#ifndef LAIR_METRICS_H
#define LAIR_METRICS_H

#include <stddef.h>

#include "core/str.h"

struct metrics;

/* n_routes names and methods (BORROWED for the object's life): one series
 * per distinct (method, name); one more counts requests that matched no
 * route. OWNED: metrics_free. NULL on ENOMEM. */
struct metrics *metrics_new(const char *const *route_names, const char *const *route_methods,
                            size_t n_routes);
void metrics_free(struct metrics *m);
/* route = n_routes for "unmatched". */
void metrics_observe(struct metrics *m, size_t route, int status, double seconds);
void metrics_render(struct metrics *m, struct buf *out);

#endif
