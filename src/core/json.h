/* jansson helpers shared by the handlers: strict parsing of request bodies
 * with a precise error position, typed field access that names the field in
 * its error, and dumping into a struct buf. */
#ifndef LAIR_JSON_H
#define LAIR_JSON_H

#include <jansson.h>
#include <stdbool.h>

#include "core/err.h"
#include "core/str.h"

/* Parses a request body that must be a JSON object. Duplicate keys are
 * rejected. OUT: *out OWNED (json_decref). On error, msg gets a sentence with
 * the line and column: LAIR_EJSON, or LAIR_ENOMEM when memory ran out. */
enum lair_err json_parse_object(struct str body, json_t **out, char *msg, size_t msglen);

/* Appends the compact serialisation of v to out. */
enum lair_err json_dump_buf(const json_t *v, struct buf *out);
/* json_dumps(v, flags), but NULL when memory runs out: jansson 2.14's own
 * json_dumps ignores a failed write of an object's key and returns the text
 * without it. OWNED (free with free()). */
char *json_dumps_checked(const json_t *v, size_t flags);

/* Typed optional field access. Each returns LAIR_OK when the field is absent
 * (leaving *out untouched) or present with the right type and range, else
 * LAIR_EINVAL with msg naming the field. */
enum lair_err json_opt_number(json_t *obj, const char *key, double min, double max, double *out,
                              char *msg, size_t msglen);
enum lair_err json_opt_int(json_t *obj, const char *key, long long min, long long max,
                           long long *out, char *msg, size_t msglen);
enum lair_err json_opt_bool(json_t *obj, const char *key, bool *out, char *msg, size_t msglen);
/* BORROWED from obj. */
enum lair_err json_opt_string(json_t *obj, const char *key, struct str *out, char *msg,
                              size_t msglen);

#endif
