/* Logging to stderr, one line per event: time, level, module, message.
 * A log line never carries a secret or the content of a message; callers pass
 * identifiers and sizes, not text (CNIL: minimal personal data in logs). */
#ifndef LAIR_LOG_H
#define LAIR_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Level from $LIBREAIR_LOG (debug|info|warn|error), default info. */
void log_init(void);
void log_set_level(enum log_level l);

/* A second line of defence for personal data: when set, the message part of
 * every line (not the time, level and module) goes through fn, which writes
 * at most cap - 1 bytes and a NUL into out and returns the length. main()
 * installs the GDPR module's gdpr_log_filter (gdpr/policy.h, over
 * pii_mask_to), since core depends on nothing. NULL removes the filter. Set
 * it before threads start. */
typedef size_t (*log_filter_fn)(const char *msg, size_t len, char *out, size_t cap);
void log_set_filter(log_filter_fn fn);
void log_msg(enum log_level l, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(mod, ...) log_msg(LOG_DEBUG, mod, __VA_ARGS__)
#define log_info(mod, ...) log_msg(LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...) log_msg(LOG_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_msg(LOG_ERROR, mod, __VA_ARGS__)

#endif
