/* Fuzz target: the assistant file (src/assist/assistant.c), the JSON that
 * POST/PUT /api/v1/assistants and `libreair assistant apply` take: strict
 * validation of every field and the canonical form that is stored.
 *
 * Input: the file (any bytes; parsed as the API does, duplicate keys
 * refused). Models "default" and "mistral" exist; a knowledge base exists
 * when its slug does not start with 'x'. Checked: assistant.h's promises —
 * a refusal names a printable field, a listed code and a message; an accepted
 * file has its fields in range, its canonical form (assistant_dump) parses
 * and validates to the same text again (equal files give equal bytes), and a
 * public assistant allows each origin of its list, as given and canonical. */
#include <string.h>

#include "assist/assistant.h"
#include "fuzz.h"
#include "store/system.h"

#include "core/banned.h"

static bool model_exists(void *arg, const char *name)
{
    (void)arg;
    return !strcmp(name, "default") || !strcmp(name, "mistral");
}

static bool kb_exists(void *arg, const char *slug)
{
    (void)arg;
    return slug[0] != 'x';
}

static const struct assistant_ctx ctx = {model_exists, kb_exists, NULL};

static void check_error(const struct assistant_error *err)
{
    static const char *const codes[] = {"unknown_field", "missing_field", "invalid_value",
                                        "unknown_model", "unknown_knowledge_base"};
    FUZZ_CHECK(err->code, "a refusal without a code");
    bool known = false;
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        known = known || !strcmp(err->code, codes[i]);
    FUZZ_CHECK(known, "unknown code '%s'", err->code);
    FUZZ_CHECK(memchr(err->field, 0, sizeof(err->field)), "field not NUL-terminated");
    for (const char *f = err->field; *f; f++)
        FUZZ_CHECK(*f >= 0x20 && *f < 0x7F, "field '%s' is not printable ASCII", err->field);
    FUZZ_CHECK(memchr(err->msg, 0, sizeof(err->msg)) && *err->msg, "no message");
}

static void check_fields(const struct assistant *a)
{
    FUZZ_CHECK(a->spec && json_is_object(a->spec), "no canonical spec");
    FUZZ_CHECK(a->slug && slug_valid(str_c(a->slug)), "slug '%s'", a->slug ? a->slug : "");
    FUZZ_CHECK(a->name && strlen(a->name) <= ASSISTANT_NAME_MAX, "name");
    FUZZ_CHECK(a->instructions && strlen(a->instructions) <= ASSISTANT_INSTRUCTIONS_MAX,
               "instructions");
    FUZZ_CHECK(a->model && model_exists(NULL, a->model), "model '%s'", a->model);
    FUZZ_CHECK(a->max_tokens == -1 || (a->max_tokens >= 1 && a->max_tokens <= ASSISTANT_MAX_TOKENS),
               "max_tokens %lld", a->max_tokens);
    FUZZ_CHECK(a->n_knowledge_bases >= 0 && a->n_knowledge_bases <= ASSISTANT_MAX_KB, "kbs");
    for (int i = 0; i < a->n_knowledge_bases; i++)
        FUZZ_CHECK(kb_exists(NULL, a->knowledge_bases[i]), "kb '%s'", a->knowledge_bases[i]);
    FUZZ_CHECK(a->top_k >= 1 && a->top_k <= ASSISTANT_TOP_K_MAX, "top_k %d", a->top_k);
    FUZZ_CHECK(a->n_starters >= 0 && a->n_starters <= ASSISTANT_MAX_STARTERS, "starters");
    for (int i = 0; i < a->n_starters; i++)
        FUZZ_CHECK(strlen(a->starters[i]) <= ASSISTANT_STARTER_MAX, "starter %d", i);
    FUZZ_CHECK(!a->refusal || strlen(a->refusal) <= ASSISTANT_TEXT_MAX, "refusal");
    FUZZ_CHECK(a->welcome && strlen(a->welcome) <= ASSISTANT_TEXT_MAX, "welcome");
    FUZZ_CHECK(a->retention_days >= 0 && a->retention_days <= ASSISTANT_RETENTION_MAX,
               "retention_days %d", a->retention_days);
    FUZZ_CHECK(a->allowed_origins && json_is_array(a->allowed_origins), "allowed_origins");
    FUZZ_CHECK(a->visibility == VIS_PUBLIC || json_array_size(a->allowed_origins) == 0,
               "origins on an internal assistant");
}

/* Each origin of the list given is allowed, as given and as stored. */
static void check_origins(const struct assistant *a, json_t *given)
{
    size_t i;
    json_t *v;
    json_array_foreach(a->allowed_origins, i, v)
    {
        struct str o = {json_string_value(v), json_string_length(v)};
        char canon[ASSISTANT_ORIGIN_MAX + 1];
        FUZZ_CHECK(assistant_origin_canonical(o, canon) && !strcmp(canon, o.ptr),
                   "stored origin '%s' is not canonical", o.ptr);
        FUZZ_CHECK(assistant_origin_allowed(a, o), "stored origin '%s' not allowed", o.ptr);
    }
    json_array_foreach(given, i, v)
    {
        if (json_is_string(v))
            FUZZ_CHECK(assistant_origin_allowed(
                           a, (struct str){json_string_value(v), json_string_length(v)}),
                       "origin '%s' of the file not allowed", json_string_value(v));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *spec = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    struct assistant a;
    struct assistant_error err;
    memset(&err, 0, sizeof(err));
    enum lair_err e = assistant_parse(spec, &ctx, &a, &err);
    if (e != LAIR_OK) {
        FUZZ_CHECK(e == LAIR_EUNPROC || e == LAIR_ENOMEM, "assistant_parse gave %s",
                   lair_err_name(e));
        if (e == LAIR_EUNPROC)
            check_error(&err);
        json_decref(spec);
        return 0;
    }
    check_fields(&a);
    if (a.visibility == VIS_PUBLIC)
        check_origins(&a, json_object_get(spec, "allowed_origins"));
    char *text = assistant_dump(&a);
    FUZZ_CHECK(text, "assistant_dump failed");
    json_t *again = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    FUZZ_CHECK(again, "the canonical form is not JSON: %s", je.text);
    struct assistant b;
    e = assistant_parse(again, &ctx, &b, &err);
    FUZZ_CHECK(e == LAIR_OK, "the canonical form is refused: %s: %s", err.field, err.msg);
    char *text2 = assistant_dump(&b);
    FUZZ_CHECK(text2 && !strcmp(text, text2), "the canonical form changes:\n%s\n%s", text,
               text2 ? text2 : "");
    free(text2);
    assistant_release(&b);
    json_decref(again);
    free(text);
    assistant_release(&a);
    json_decref(spec);
    return 0;
}
