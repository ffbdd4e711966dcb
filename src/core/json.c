/* jansson wrappers. */
#include "core/json.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

/* jansson 2.14 cannot say that it ran out of memory while parsing: the
 * failure comes out as a syntax error ("invalid token near ..."), or not at
 * all, its lexer dropping the character it could not store so that the
 * text parses to another value. So jansson allocates through here, and a
 * failure is noted for the thread. Installed before main, when no other
 * thread uses jansson; the blocks are malloc's either way. */
static _Thread_local bool alloc_failed;

static void *json_alloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        alloc_failed = true;
    return p;
}

static void json_free(void *p)
{
    free(p);
}

__attribute__((constructor)) static void json_alloc_install(void)
{
    json_set_alloc_funcs(json_alloc, json_free);
}

enum lair_err json_parse_object(struct str body, json_t **out, char *msg, size_t msglen)
{
    json_error_t je;
    *out = NULL;
    if (body.len == 0) {
        snprintf(msg, msglen, "the request body is empty; send a JSON object");
        return LAIR_EJSON;
    }
    alloc_failed = false;
    json_t *v = json_loadb(body.ptr, body.len, JSON_REJECT_DUPLICATES, &je);
    if (alloc_failed) { /* the server's failure (500), not a malformed body (400) */
        json_decref(v);
        snprintf(msg, msglen, "out of memory while reading the request body");
        return LAIR_ENOMEM;
    }
    if (!v) {
        snprintf(msg, msglen, "malformed JSON at line %d, column %d: %s", je.line, je.column,
                 je.text);
        return LAIR_EJSON;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        snprintf(msg, msglen, "the request body must be a JSON object");
        return LAIR_EJSON;
    }
    *out = v;
    return LAIR_OK;
}

struct dump_ctx {
    struct buf *out;
    enum lair_err err;
};

/* A failed append is kept: jansson 2.14 ignores the callback's error when
 * it writes an object's key, so the text would go on without that key. */
static int dump_cb(const char *buffer, size_t size, void *data)
{
    struct dump_ctx *d = data;
    if (!d->err)
        d->err = buf_append(d->out, buffer, size);
    return d->err ? -1 : 0;
}

char *json_dumps_checked(const json_t *v, size_t flags)
{
    struct buf b;
    buf_init(&b, 0);
    struct dump_ctx d = {&b, LAIR_OK};
    if (json_dump_callback(v, dump_cb, &d, flags) != 0 || d.err || !b.ptr) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

enum lair_err json_dump_buf(const json_t *v, struct buf *out)
{
    struct dump_ctx d = {out, LAIR_OK};
    return json_dump_callback(v, dump_cb, &d, JSON_COMPACT | JSON_REAL_PRECISION(9)) == 0 && !d.err
               ? LAIR_OK
               : LAIR_ENOMEM;
}

enum lair_err json_opt_number(json_t *obj, const char *key, double min, double max, double *out,
                              char *msg, size_t msglen)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return LAIR_OK;
    if (!json_is_number(v)) {
        snprintf(msg, msglen, "'%s' must be a number", key);
        return LAIR_EINVAL;
    }
    double d = json_number_value(v);
    if (!isfinite(d) || d < min || d > max) {
        snprintf(msg, msglen, "'%s' must be between %g and %g", key, min, max);
        return LAIR_EINVAL;
    }
    *out = d;
    return LAIR_OK;
}

enum lair_err json_opt_int(json_t *obj, const char *key, long long min, long long max,
                           long long *out, char *msg, size_t msglen)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return LAIR_OK;
    long long n;
    if (json_is_integer(v)) {
        n = (long long)json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
               fabs(json_real_value(v)) < 9e15) {
        n = (long long)json_real_value(v);
    } else {
        snprintf(msg, msglen, "'%s' must be an integer", key);
        return LAIR_EINVAL;
    }
    if (n < min || n > max) {
        snprintf(msg, msglen, "'%s' must be between %lld and %lld", key, min, max);
        return LAIR_EINVAL;
    }
    *out = n;
    return LAIR_OK;
}

enum lair_err json_opt_bool(json_t *obj, const char *key, bool *out, char *msg, size_t msglen)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return LAIR_OK;
    if (!json_is_boolean(v)) {
        snprintf(msg, msglen, "'%s' must be true or false", key);
        return LAIR_EINVAL;
    }
    *out = json_is_true(v);
    return LAIR_OK;
}

enum lair_err json_opt_string(json_t *obj, const char *key, struct str *out, char *msg,
                              size_t msglen)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return LAIR_OK;
    if (!json_is_string(v)) {
        snprintf(msg, msglen, "'%s' must be a string", key);
        return LAIR_EINVAL;
    }
    *out = (struct str){json_string_value(v), json_string_length(v)};
    return LAIR_OK;
}
