/* Office documents for the DOCX and ODT targets. A fuzzer that flips bytes
 * of a zip archive mostly breaks its checksums and never reaches the XML
 * inside, so these targets take two kinds of input:
 *   - a zip archive (it starts with "PK"): extracted as it is, which fuzzes
 *     the archive checks (entry names, sizes, bombs) and libzip's use;
 *   - anything else: the XML parts of a document, separated by NUL bytes
 *     (which XML cannot hold), that the target packs into a valid archive
 *     with the fixed parts the format needs before extracting it, so the
 *     mutations land in the XML readers.
 * The archive is built with libzip in memory; the fixed first entry is
 * stored and the parts deflated, so both of libzip's read paths run. */
#ifndef LAIR_FUZZ_ZIP_H
#define LAIR_FUZZ_ZIP_H

#include <zip.h>

#include "fuzz_doc.h"

struct fuzz_zip_entry {
    const char *name;
    const void *data;
    size_t len;
};

/* A zip archive of the entries, in order. OUT: OWNED (free), *len; NULL when
 * libzip fails. */
static inline void *fuzz_zip_build(const struct fuzz_zip_entry *e, size_t n, size_t *len)
{
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *za = src ? zip_open_from_source(src, ZIP_TRUNCATE, &ze) : NULL;
    zip_error_fini(&ze);
    if (!za) {
        zip_source_free(src);
        return NULL;
    }
    zip_source_keep(src);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        zip_source_t *part = zip_source_buffer(za, e[i].data, e[i].len, 0);
        zip_int64_t idx = part ? zip_file_add(za, e[i].name, part, ZIP_FL_ENC_UTF_8) : -1;
        if (idx < 0) {
            zip_source_free(part);
            ok = false;
        } else {
            ok = zip_set_file_compression(za, (zip_uint64_t)idx, i ? ZIP_CM_DEFLATE : ZIP_CM_STORE,
                                          1) == 0;
        }
    }
    if (!ok || zip_close(za) != 0) {
        zip_discard(za); /* zip_close leaves the archive open when it fails */
        zip_source_free(src);
        return NULL;
    }
    void *out = NULL;
    zip_stat_t st;
    if (zip_source_stat(src, &st) == 0 && zip_source_open(src) == 0) {
        out = malloc(st.size ? st.size : 1);
        if (out && zip_source_read(src, out, st.size) != (zip_int64_t)st.size) {
            free(out);
            out = NULL;
        }
        zip_source_close(src);
        *len = (size_t)st.size;
    }
    zip_source_free(src);
    return out;
}

/* Extracts data as an archive (raw) or as parts packed with the fixed
 * entries (fixed[0..nfixed), first) under the names of parts. */
static inline void fuzz_zipdoc(const uint8_t *data, size_t size, const char *hint,
                               const struct fuzz_zip_entry *fixed, size_t nfixed,
                               const char *const *parts, size_t nparts)
{
    struct doc d;
    if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
        if (fuzz_extract(data, size, hint, &d) == LAIR_OK)
            doc_release(&d);
        return;
    }
    struct fuzz_zip_entry e[8];
    size_t n = 0;
    for (size_t i = 0; i < nfixed && n < 8; i++)
        e[n++] = fixed[i];
    struct fuzz_in in = {data, size};
    for (size_t i = 0; i < nparts && n < 8 && (i == 0 || in.n); i++) {
        struct fuzz_in p = fuzz_until(&in, 0);
        e[n++] = (struct fuzz_zip_entry){parts[i], p.p, p.n};
    }
    size_t len = 0;
    void *zip = fuzz_zip_build(e, n, &len);
    if (!zip)
        return;
    /* The limits follow the input's length, not the archive's. */
    struct doc_limits lim = fuzz_doc_limits(size);
    char msg[256];
    enum lair_err err = doc_extract(zip, len, hint, &lim, &d, msg, sizeof(msg));
    if (err == LAIR_OK) {
        fuzz_check_doc(&d, &lim);
        doc_release(&d);
    } else {
        FUZZ_CHECK(err == LAIR_EUNSUPPORTED || err == LAIR_ELIMIT || err == LAIR_EINVAL ||
                       err == LAIR_ENOMEM,
                   "doc_extract gave %s, which doc.h does not list", lair_err_name(err));
    }
    free(zip);
}

#endif
