/* The sealed heads of the audit chains, written outside the data directory
 * (docs/audit.md, "Heads kept elsewhere"): someone who holds the data
 * directory and its pepper can rewrite a chain and seal it again, but not
 * the heads already written to an append-only place they do not control.
 * `libreair audit verify --against FILE` compares a chain with them.
 *
 * The server notes each new head of each chain (audit_head_note, from
 * audit_append: no I/O there) and a thread writes the heads that changed,
 * about every second, to each destination the operator configured: the
 * system log (syslog, hence the journal; the default), a file (opened with
 * O_APPEND, flushed with fdatasync: put it on another volume, or one only
 * the administrator can write), both. One line per head:
 *   audit-head SCOPE SEQ HASH
 * (SCOPE "system" or "tenant:SLUG", SEQ the event's number, HASH its 64 hex
 * digits), preceded in the file by the UTC time. */
#ifndef LAIR_AUDIT_HEADEXPORT_H
#define LAIR_AUDIT_HEADEXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/err.h"

struct audit_head_opts {
    bool syslog;      /* write each head to the system log (LOG_AUTHPRIV) */
    const char *file; /* append each head to this file; NULL: none */
};

/* Starts the writer. Errors: LAIR_EIO (the file cannot be opened for
 * appending), LAIR_ENOMEM. At most one writer per process. */
enum lair_err audit_head_start(const struct audit_head_opts *o);
/* Writes what is pending and stops. */
void audit_head_stop(void);
/* A chain's new sealed head; cheap, no I/O; nothing when no writer runs. */
void audit_head_note(const char *scope, int64_t seq, const unsigned char hash[AUDIT_HASH_LEN]);
/* Heads that could not be written (for /metrics). */
uint64_t audit_head_failures(void);

/* One head read back from a destination. */
struct audit_head {
    char scope[96];
    int64_t seq;
    unsigned char hash[AUDIT_HASH_LEN];
};

/* Reads every "audit-head SCOPE SEQ HASH" line of path (a head file, or
 * `journalctl -t libreair-audit -o cat` output) whose scope is scope.
 * OUT: *out OWNED (free), *n. Errors: LAIR_EIO, LAIR_ENOMEM. */
enum lair_err audit_heads_read(const char *path, const char *scope, struct audit_head **out,
                               size_t *n);

/* Checks that log l holds each head of heads[0..n) as written: event seq,
 * with that hash. Fills rep like audit_verify (run that first: this only
 * compares), with AUDIT_ROLLED_BACK when the log ends before a head it had
 * reached, AUDIT_REWRITTEN when it holds another event there. */
enum lair_err audit_verify_heads(struct audit_log *l, const struct audit_head *heads, size_t n,
                                 struct audit_report *rep);

#endif
