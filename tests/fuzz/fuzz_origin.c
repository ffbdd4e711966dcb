/* Fuzz target: web origins (assistant_origin_canonical in
 * src/assist/assistant.c), the gate of the public widget API: an assistant's
 * allow-list is stored canonical and every browser's Origin header is
 * canonicalised before it is compared, answered in CORS headers and
 * rate-limited, so two spellings of one origin must give one text and no
 * other origin may give it.
 *
 * Input: an origin (any bytes). Checked: assistant.h's promises — the
 * canonical text gives itself, is at most ASSISTANT_ORIGIN_MAX bytes of
 * printable ASCII, "http://" or "https://" then a host without upper case and
 * no path; and a public assistant whose list holds the input is valid and
 * allows the input and its canonical form. */
#include <string.h>

#include "assist/assistant.h"
#include "fuzz.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct str o = {(const char *)data, size};
    char canon[ASSISTANT_ORIGIN_MAX + 1], again[ASSISTANT_ORIGIN_MAX + 1];
    if (!assistant_origin_canonical(o, canon))
        return 0;
    size_t len = strlen(canon);
    FUZZ_CHECK(len <= ASSISTANT_ORIGIN_MAX, "%zu bytes", len);
    FUZZ_CHECK(!strncmp(canon, "http://", 7) || !strncmp(canon, "https://", 8), "scheme of '%s'",
               canon);
    const char *host = strstr(canon, "://") + 3;
    FUZZ_CHECK(*host, "no host in '%s'", canon);
    for (const char *p = host; *p; p++) {
        FUZZ_CHECK(*p > 0x20 && *p < 0x7F, "'%s' holds byte 0x%02x", canon, (unsigned char)*p);
        FUZZ_CHECK(!(*p >= 'A' && *p <= 'Z'), "'%s' has upper case", canon);
        FUZZ_CHECK(*p != '/' && *p != '?' && *p != '#' && *p != '@', "'%s' is not an origin",
                   canon);
    }
    FUZZ_CHECK(assistant_origin_canonical(str_c(canon), again) && !strcmp(canon, again),
               "'%.*s' gives '%s', which gives '%s'", (int)size, (const char *)data, canon, again);
    /* a public assistant that lists the input allows it, and its canonical form */
    json_t *spec = json_pack("{s:s, s:s, s:s, s:[s%]}", "slug", "widget", "model", "default",
                             "visibility", "public", "allowed_origins", (const char *)data, size);
    FUZZ_CHECK(spec, "an origin with a canonical form is not a JSON string");
    struct assistant a;
    struct assistant_error err;
    FUZZ_CHECK(assistant_parse(spec, NULL, &a, &err) == LAIR_OK, "'%s' refused: %s", canon,
               err.msg);
    FUZZ_CHECK(assistant_origin_allowed(&a, o) && assistant_origin_allowed(&a, str_c(canon)),
               "'%s' is not allowed by the assistant that lists it", canon);
    assistant_release(&a);
    json_decref(spec);
    return 0;
}
