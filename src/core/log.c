/* stderr logger with a level threshold; one write(2) per line so lines from
 * several threads never interleave. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/banned.h"

static enum log_level threshold = LOG_INFO;
static log_filter_fn filter;

void log_init(void)
{
    const char *v = getenv("LIBREAIR_LOG");
    if (!v)
        return;
    if (!strcmp(v, "debug"))
        threshold = LOG_DEBUG;
    else if (!strcmp(v, "warn"))
        threshold = LOG_WARN;
    else if (!strcmp(v, "error"))
        threshold = LOG_ERROR;
}

void log_set_level(enum log_level l) { threshold = l; }

void log_set_filter(log_filter_fn fn) { filter = fn; }

void log_msg(enum log_level l, const char *mod, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (l < threshold)
        return;
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, names[l], mod);
    if (n < 0)
        return;
    char msg[sizeof(line)];
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t mlen = m < 0 ? 0 : (size_t)m < sizeof(msg) ? (size_t)m : sizeof(msg) - 1;
    size_t room = sizeof(line) - (size_t)n - 1; /* the '\n' */
    if (filter) {
        mlen = filter(msg, mlen, line + n, room);
    } else {
        if (mlen >= room)
            mlen = room - 1;
        memcpy(line + n, msg, mlen);
    }
    size_t len = (size_t)n + (mlen < room ? mlen : room - 1);
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
