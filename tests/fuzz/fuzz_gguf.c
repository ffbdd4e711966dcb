/* Fuzz target: GGUF model information (src/llm/gguf_info.c over ggml's gguf
 * reader), what `libreair model info` and the model registry read from a
 * file a user names or downloads: any key may be missing, of another type or
 * hold invalid UTF-8, tensor sizes may overflow, the file may be cut short.
 *
 * Input: the file. llm_gguf_info_json takes a path, so the input is written
 * to an in-memory file (memfd) named through /proc/self/fd. Checked: on
 * success the output is one JSON object (jansson parses it back) holding the
 * fields llm.h lists; on failure only LAIR_EIO or LAIR_EMODEL, and nothing
 * written. ggml itself is not instrumented (a prebuilt library): its bugs show
 * as crashes or sanitizer reports from the interceptors, not as coverage. */
#include <jansson.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "llm/llm.h"

#include "core/banned.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    llm_global_init();
    fd = memfd_create("fuzz-gguf", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    struct buf out;
    buf_init(&out, 0);
    buf_append(&out, "x", 1); /* the output is appended after what out holds */
    enum lair_err e = llm_gguf_info_json(path, &out);
    if (e != LAIR_OK) {
        FUZZ_CHECK(e == LAIR_EIO || e == LAIR_EMODEL || e == LAIR_ENOMEM,
                   "llm_gguf_info_json gave %s", lair_err_name(e));
        FUZZ_CHECK(out.len == 1, "a failure wrote %zu bytes", out.len - 1);
        buf_release(&out);
        return 0;
    }
    json_error_t je;
    json_t *v = json_loadb(out.ptr + 1, out.len - 1, JSON_REJECT_DUPLICATES, &je);
    FUZZ_CHECK(v && json_is_object(v), "not a JSON object (%s): %s", je.text, out.ptr + 1);
    static const char *const fields[] = {"architecture",   "name",         "parameters",
                                         "context_length", "file_type",    "quantisation",
                                         "tensor_types",   "vocab_size",   "chat_template",
                                         "file_size",      "tensor_count", "gguf_version"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        FUZZ_CHECK(json_object_get(v, fields[i]), "no '%s' in %s", fields[i], out.ptr + 1);
    FUZZ_CHECK(json_integer_value(json_object_get(v, "file_size")) == (json_int_t)size,
               "file_size is not the file's");
    json_decref(v);
    buf_release(&out);
    return 0;
}
