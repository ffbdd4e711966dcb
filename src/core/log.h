/* Logging to stderr, one line per event: time, level, module, message.
 * A log line never carries a secret or the content of a message; callers pass
 * identifiers and sizes, not text (CNIL: minimal personal data in logs). */
#ifndef LAIR_LOG_H
#define LAIR_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Level from $LIBREAIR_LOG (debug|info|warn|error), default info. */
void log_init(void);
void log_set_level(enum log_level l);
void log_msg(enum log_level l, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(mod, ...) log_msg(LOG_DEBUG, mod, __VA_ARGS__)
#define log_info(mod, ...) log_msg(LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...) log_msg(LOG_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_msg(LOG_ERROR, mod, __VA_ARGS__)

#endif
