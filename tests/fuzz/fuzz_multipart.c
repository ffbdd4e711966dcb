/* Fuzz target: multipart/form-data (src/http/multipart.c), how documents are
 * uploaded to a knowledge base, and its file-name checks.
 *
 * Input: the Content-Type header value up to the first LF, then the body
 * (any bytes). A limits byte comes first: one input in two is parsed with
 * small part and header limits. Checked: multipart.h's promises — on success
 * at least one part, no more than the limit, each with a name, its data and
 * content type inside the body, in order; a file name that passes
 * multipart_filename again unchanged (it is already checked and in NFC), holds
 * no '/', '\\', control character and is not "." or ".."; on failure a
 * message and an error that the header lists. */
#include <string.h>

#include "fuzz.h"
#include "http/multipart.h"

#include "core/banned.h"

static bool inside(struct str body, struct str s)
{
    return s.len == 0 || (s.ptr >= body.ptr && s.ptr + s.len <= body.ptr + body.len);
}

static void check_filename(const char *f)
{
    size_t len = strlen(f);
    FUZZ_CHECK(len >= 1 && len <= MULTIPART_FILENAME_MAX, "file name of %zu bytes", len);
    FUZZ_CHECK(utf8_valid(f, len), "file name not UTF-8");
    FUZZ_CHECK(strcmp(f, ".") && strcmp(f, ".."), "file name '%s'", f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)f[i];
        FUZZ_CHECK(c >= 0x20 && c != 0x7F && c != '/' && c != '\\', "file name with byte 0x%02x",
                   c);
    }
    struct arena a;
    arena_init(&a, 0);
    const char *again;
    char msg[200];
    enum lair_err e = multipart_filename(str_c(f), &a, &again, msg, sizeof(msg));
    FUZZ_CHECK(e == LAIR_OK, "a file name accepted once is refused the second time: %s", msg);
    FUZZ_CHECK(!strcmp(again, f), "a checked file name changes when checked again");
    arena_release(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t opt = fuzz_u8(&in);
    struct fuzz_in ct_in = fuzz_until(&in, '\n');
    char *ct = malloc(ct_in.n + 1);
    if (!ct)
        return 0;
    memcpy(ct, ct_in.p, ct_in.n);
    ct[ct_in.n] = 0;
    struct multipart_limits lim = {0};
    if (opt & 1)
        lim = (struct multipart_limits){.max_parts = 1 + (opt >> 1) % 4,
                                        .max_header_bytes = 16 + (size_t)(opt >> 3) * 8};
    size_t max_parts = lim.max_parts ? lim.max_parts : MULTIPART_MAX_PARTS;
    /* the body in its own allocation, so that a read past it is seen */
    char *body_mem = malloc(in.n ? in.n : 1);
    if (!body_mem) {
        free(ct);
        return 0;
    }
    memcpy(body_mem, in.p, in.n);
    struct str body = {body_mem, in.n};
    struct arena a;
    arena_init(&a, 1 << 20);
    struct multipart_part *parts;
    size_t n;
    char msg[256] = "";
    enum lair_err e = multipart_parse(ct, body, &lim, &a, &parts, &n, msg, sizeof(msg));
    if (e == LAIR_OK) {
        FUZZ_CHECK(n >= 1 && n <= max_parts, "%zu parts (limit %zu)", n, max_parts);
        const char *prev = body.ptr;
        for (size_t i = 0; i < n; i++) {
            const struct multipart_part *p = &parts[i];
            FUZZ_CHECK(p->name && *p->name, "part %zu has no name", i);
            FUZZ_CHECK(inside(body, p->data) && inside(body, p->content_type),
                       "part %zu points outside the body", i);
            FUZZ_CHECK(p->data.ptr >= prev, "part %zu is before the one before", i);
            prev = p->data.ptr + p->data.len;
            if (p->filename)
                check_filename(p->filename);
        }
    } else {
        FUZZ_CHECK(e == LAIR_EINVAL || e == LAIR_ELIMIT || e == LAIR_EUNPROC || e == LAIR_ENOMEM,
                   "multipart_parse gave %s", lair_err_name(e));
        FUZZ_CHECK(e == LAIR_ENOMEM || *msg, "an error without a message");
        FUZZ_CHECK(parts == NULL, "an error that left parts");
    }
    arena_release(&a);
    free(body_mem);
    free(ct);
    return 0;
}
