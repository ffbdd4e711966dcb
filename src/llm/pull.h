/* Downloading a model file by URL (libreair model pull). The file is written
 * to DEST.part and renamed to DEST only once it is complete and, when a digest
 * is given, verified; an interrupted download leaves DEST.part behind and the
 * next call with the same DEST resumes it with an HTTP Range request. Only
 * http and https are spoken, redirects included, so a URL can never make the
 * program read a local file or another protocol's server. */
#ifndef LAIR_PULL_H
#define LAIR_PULL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/str.h"

enum pull_progress {
    PULL_PROGRESS_AUTO = 0, /* a bar when stderr is a terminal, else a line every 10% */
    PULL_PROGRESS_BAR,
    PULL_PROGRESS_LINES,
    PULL_PROGRESS_NONE, /* nothing on stderr */
};

struct pull_opts {
    const char *url;    /* BORROWED: http:// or https:// */
    const char *dest;   /* BORROWED: final path; its directory must exist */
    const char *sha256; /* BORROWED: expected digest, 64 hex digits; NULL = none */
    enum pull_progress progress;
    int retries;            /* resumes after a dropped connection: 0 = 5, < 0 = none */
    long connect_timeout_s; /* 0 = 30 */
    long low_speed_time_s;  /* abort below 1 KiB/s for this long; 0 = 60 */
    long max_redirects;     /* 0 = 10 */
};

struct pull_result {
    uint64_t size;    /* bytes in DEST */
    uint64_t fetched; /* bytes received by this call (less than size after a resume) */
    bool resumed;     /* an earlier DEST.part was continued */
    bool already;     /* DEST existed (and matched the digest when one was given) */
    char sha256[65];  /* hex digest of DEST; empty when DEST already existed without a
                         digest to check */
};

/* Downloads o->url to o->dest. When DEST already exists it is not fetched
 * again: with a digest it is verified (LAIR_ECONFLICT when it differs), without
 * one it is taken as is (res->already).
 * OUT: *res (may be NULL). OUT: msg (may be NULL) gets a one-line explanation
 * on error. Errors: LAIR_EINVAL (URL scheme, digest syntax), LAIR_ENET (HTTP
 * status, connection, too many redirects; DEST.part is kept for a resume),
 * LAIR_ECHECKSUM (digest differs; DEST.part is deleted), LAIR_EIO (local
 * file), LAIR_EBUSY (another pull is writing the same DEST.part),
 * LAIR_ECONFLICT, LAIR_ENOMEM. */
enum lair_err model_pull(const struct pull_opts *o, struct pull_result *res, struct buf *msg);

/* True when s is 64 hexadecimal digits (either case). */
bool pull_sha256_valid(const char *s);

#endif
