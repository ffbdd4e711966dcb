/* Refused requests, aggregated for the audit log (docs/audit.md,
 * "Refusals"). Every 401, 403, 429 (and 404 on a tenant's management ids)
 * is an audit event; a client in a loop, or a scan from many addresses,
 * would otherwise write one permanent event per request.
 *
 * A refusal is identified by its log, actor, client, action, target,
 * outcome and detail. The first one of a kind in a period is written at
 * once (refusals_note says so); the next ones are only counted, and
 * refusals_take hands out one aggregate per kind when its period ends (or
 * all of them at shutdown), to be written as one event. The table has a
 * fixed number of kinds: when it is full, refusals of new kinds are counted
 * in one "other clients" aggregate instead, so a flood of distinct
 * addresses costs neither memory nor events. The table is safe from many
 * threads at once; it writes nothing itself. */
#ifndef LAIR_AUDIT_REFUSALS_H
#define LAIR_AUDIT_REFUSALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define REFUSALS_PERIOD_DEFAULT 60 /* seconds */
#define REFUSALS_CAP_DEFAULT 1024  /* kinds of refusal followed at once */

/* What identifies a refusal. Longer fields are cut (to the sizes of
 * struct refusal_agg). NULL is "". */
struct refusal {
    const char *log;     /* tenant slug; "" = the operator's log */
    const char *actor;   /* key id, "anonymous" */
    const char *client;  /* pseudonymous client token */
    const char *action;  /* "access.denied", "quota.refused", "access.notfound" */
    const char *target;  /* "route:keys" */
    const char *outcome; /* "401" */
    const char *detail;  /* "method:GET credential:invalid" */
    const char *addr;    /* the client's address: not part of the kind; kept for
                            the server's log, never for the audit log */
};

/* Refusals that were counted and not written yet, of one kind, or of the
 * "other clients" (other = true: every text field is "", by_status says
 * which statuses they had). */
struct refusal_agg {
    char log[64], actor[65], client[33], action[33], target[97], outcome[17], detail[161];
    char addr[64];
    bool other;
    uint64_t count;        /* refusals counted */
    uint64_t by_status[4]; /* other only: 401, 403, 404, 429 among them */
    int64_t first, last;   /* unix times of the first and the last counted */
    int64_t started;       /* when the period began */
};

struct refusals;

/* OUT: OWNED (refusals_free). cap: kinds followed at once (at least 2: one
 * slot is the "other clients" aggregate's); period: seconds. */
enum lair_err refusals_new(size_t cap, int64_t period, struct refusals **out);
void refusals_free(struct refusals *r);

/* Counts one refusal at unix time now. True when it is the first of its
 * kind in its period: the caller writes it as an event at once. False: it
 * is counted, and will come out of refusals_take. */
bool refusals_note(struct refusals *r, const struct refusal *x, int64_t now);

/* Takes the aggregates whose period has ended at now (every one when all),
 * removing their kinds from the table; kinds with nothing counted (their
 * only refusal was written at once) are dropped without an aggregate.
 * OUT: *out OWNED (free), *n aggregates; *out NULL when *n is 0. */
enum lair_err refusals_take(struct refusals *r, int64_t now, bool all, struct refusal_agg **out,
                            size_t *n);

/* Unix time at which the earliest period in the table ends; INT64_MAX when
 * the table is empty. */
int64_t refusals_next_end(struct refusals *r);

struct refusals_stats {
    size_t kinds, cap;
    uint64_t noted;      /* refusals seen */
    uint64_t written;    /* written at once (first of their kind) */
    uint64_t counted;    /* counted into an aggregate */
    uint64_t overflowed; /* of those, counted as "other clients" (table full) */
};
void refusals_get_stats(struct refusals *r, struct refusals_stats *out);

#endif
