/* Assistant templates (templates.h): validation, the shipped ones compiled
 * in from templates/, and the operator's, one JSON file each in
 * <data>/templates/. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assist/assistant.h"
#include "assist/templates.h"
#include "core/log.h"
#include "eval/suite.h"
#include "core/banned.h"

struct assistant_template_file {
    const char *path; /* "/etat-civil.json" */
    const unsigned char *data;
    size_t len;
};
extern const struct assistant_template_file assistant_template_files[];

/* ---- validation ---- */

static enum lair_err fail(struct template_error *err, const char *field, const char *code,
                          const char *msg)
{
    snprintf(err->field, sizeof(err->field), "%s", field);
    err->code = code;
    snprintf(err->msg, sizeof(err->msg), "%s", msg);
    return LAIR_EUNPROC;
}

/* Fields of an assistant file a template may not carry: they name the
 * tenant's data or are chosen when instantiating. */
static const char *const NOT_IN_TEMPLATE[] = {
    "slug", "model", "knowledge_bases", "allowed_origins", "publish_gate", NULL};

static enum lair_err check_assistant(json_t *a, struct template_error *err)
{
    if (!json_is_object(a))
        return fail(err, "assistant", "invalid_value",
                    "'assistant' must be an object with the fields of an assistant file");
    for (size_t i = 0; NOT_IN_TEMPLATE[i]; i++) {
        if (json_object_get(a, NOT_IN_TEMPLATE[i])) {
            char f[64], m[320];
            snprintf(f, sizeof(f), "assistant.%s", NOT_IN_TEMPLATE[i]);
            snprintf(m, sizeof(m),
                     "'%s' is not allowed in a template: a template carries instructions, "
                     "settings and a suite, never a tenant's data; it is set when instantiating",
                     f);
            return fail(err, f, "unknown_field", m);
        }
    }
    json_t *probe = json_deep_copy(a);
    if (!probe)
        return LAIR_ENOMEM;
    json_object_set_new(probe, "slug", json_string("template"));
    json_object_set_new(probe, "model", json_string("default"));
    struct assistant parsed;
    struct assistant_error ae;
    enum lair_err e = assistant_parse(probe, NULL, &parsed, &ae);
    json_decref(probe);
    if (e == LAIR_EUNPROC) {
        char f[160];
        snprintf(f, sizeof(f), "assistant%s%.120s", ae.field[0] ? "." : "", ae.field);
        return fail(err, f, ae.code, ae.msg);
    }
    if (!e)
        assistant_release(&parsed);
    return e;
}

static bool valid_text(json_t *v, size_t max)
{
    return json_is_string(v) && json_string_length(v) <= max &&
           strlen(json_string_value(v)) == json_string_length(v);
}

enum lair_err template_parse(json_t *in, json_t **out, struct template_error *err)
{
    *out = NULL;
    memset(err, 0, sizeof(*err));
    if (!json_is_object(in))
        return fail(err, "", "invalid_value", "a template is a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach(in, key, v)
    {
        if (strcmp(key, "name") && strcmp(key, "title") && strcmp(key, "description") &&
            strcmp(key, "revision") && strcmp(key, "assistant") && strcmp(key, "suite")) {
            char f[80], m[320];
            snprintf(f, sizeof(f), "%.63s", key);
            snprintf(m, sizeof(m),
                     "unknown field '%s': a template has name, title, description, revision, "
                     "assistant and suite",
                     f);
            return fail(err, f, "unknown_field", m);
        }
    }
    json_t *name = json_object_get(in, "name");
    if (!name || json_is_null(name))
        return fail(err, "name", "missing_field", "'name' is required");
    if (!json_is_string(name) || json_string_length(name) > TEMPLATE_NAME_MAX ||
        !eval_name_valid(json_string_value(name)) || strchr(json_string_value(name), '_'))
        return fail(err, "name", "invalid_value",
                    "'name' must be 1 to 63 characters among a-z, 0-9 and '-', not starting "
                    "with '-'");
    json_t *title = json_object_get(in, "title");
    if (title && !json_is_null(title) &&
        (!valid_text(title, TEMPLATE_TITLE_MAX) || !json_string_length(title)))
        return fail(err, "title", "invalid_value", "'title' must be a string of 1 to 200 bytes");
    json_t *desc = json_object_get(in, "description");
    if (desc && !json_is_null(desc) && !valid_text(desc, TEMPLATE_DESCRIPTION_MAX))
        return fail(err, "description", "invalid_value",
                    "'description' must be a string of at most 2000 bytes");
    json_t *rev = json_object_get(in, "revision");
    if (rev && !json_is_null(rev) &&
        (!json_is_integer(rev) || json_integer_value(rev) < 1 || json_integer_value(rev) > 1000000))
        return fail(err, "revision", "invalid_value",
                    "'revision' must be an integer from 1 to 1000000");
    json_t *a = json_object_get(in, "assistant");
    if (!a || json_is_null(a))
        return fail(err, "assistant", "missing_field",
                    "'assistant' is required: the instructions and settings to share");
    enum lair_err e = check_assistant(a, err);
    if (e)
        return e;
    json_t *suite = json_object_get(in, "suite"), *canon_suite = json_null();
    if (suite && !json_is_null(suite)) {
        struct eval_suite s;
        struct eval_error ee;
        e = eval_suite_parse(suite, &s, &ee);
        if (e == LAIR_EUNPROC) {
            char f[160];
            snprintf(f, sizeof(f), "suite%s%.120s", ee.field[0] ? "." : "", ee.field);
            return fail(err, f, ee.code, ee.msg);
        }
        if (e)
            return e;
        canon_suite = json_deep_copy(s.spec);
        eval_suite_release(&s);
    }
    *out = json_pack("{s:O, s:O, s:s, s:I, s:O, s:o}", "name", name, "title",
                     title && !json_is_null(title) ? title : name, "description",
                     desc && json_is_string(desc) ? json_string_value(desc) : "", "revision",
                     rev && json_is_integer(rev) ? json_integer_value(rev) : (json_int_t)1,
                     "assistant", a, "suite", canon_suite ? canon_suite : json_null());
    return *out ? LAIR_OK : LAIR_ENOMEM;
}

/* ---- shipped ---- */

static json_t *shipped_load(size_t i)
{
    json_error_t je;
    json_t *v = json_loadb((const char *)assistant_template_files[i].data,
                           assistant_template_files[i].len, JSON_REJECT_DUPLICATES, &je);
    json_t *out = NULL;
    struct template_error err;
    if (v && template_parse(v, &out, &err))
        log_error("template", "shipped template %s is invalid: %s: %s",
                  assistant_template_files[i].path, err.field, err.msg);
    json_decref(v);
    return out;
}

static json_t *shipped_find(const char *name)
{
    for (size_t i = 0; assistant_template_files[i].path; i++) {
        const char *p = assistant_template_files[i].path + 1;
        size_t n = strlen(name);
        if (!strncmp(p, name, n) && !strcmp(p + n, ".json"))
            return shipped_load(i);
    }
    return NULL;
}

/* ---- the operator's ---- */

static bool path_of(const char *data_dir, const char *name, char *out, size_t n)
{
    return data_dir && eval_name_valid(name) &&
           (size_t)snprintf(out, n, "%s/templates/%s.json", data_dir, name) < n;
}

static json_t *file_load(const char *path)
{
    json_error_t je;
    json_t *v = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    json_t *out = NULL;
    struct template_error err;
    if (!v)
        return NULL;
    if (template_parse(v, &out, &err))
        log_error("template", "%s is invalid: %s: %s", path, err.field, err.msg);
    json_decref(v);
    return out;
}

static void report(json_t *t, bool shipped, void (*fn)(void *, const struct template_info *),
                   void *arg)
{
    json_t *s = json_object_get(t, "suite");
    struct template_info info = {
        .name = json_string_value(json_object_get(t, "name")),
        .title = json_string_value(json_object_get(t, "title")),
        .description = json_string_value(json_object_get(t, "description")),
        .revision = (int)json_integer_value(json_object_get(t, "revision")),
        .cases = s ? (int)json_array_size(json_object_get(s, "cases")) : 0,
        .shipped = shipped,
    };
    fn(arg, &info);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

enum lair_err template_list(const char *data_dir,
                            void (*fn)(void *arg, const struct template_info *t), void *arg)
{
    for (size_t i = 0; assistant_template_files[i].path; i++) {
        json_t *t = shipped_load(i);
        if (t)
            report(t, true, fn, arg);
        json_decref(t);
    }
    char dir[4096];
    if (!data_dir || (size_t)snprintf(dir, sizeof(dir), "%s/templates", data_dir) >= sizeof(dir))
        return LAIR_OK;
    DIR *d = opendir(dir);
    if (!d)
        return LAIR_OK;
    char *names[TEMPLATE_MAX_OPERATOR];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < TEMPLATE_MAX_OPERATOR) {
        size_t l = strlen(de->d_name);
        if (l > 5 && !strcmp(de->d_name + l - 5, ".json") && de->d_name[0] != '.')
            if ((names[n] = strndup(de->d_name, l - 5)))
                n++;
    }
    closedir(d);
    qsort(names, n, sizeof(*names), by_name);
    for (size_t i = 0; i < n; i++) {
        char path[4200];
        json_t *t = path_of(data_dir, names[i], path, sizeof(path)) ? file_load(path) : NULL;
        if (t && !strcmp(json_string_value(json_object_get(t, "name")), names[i]))
            report(t, false, fn, arg);
        json_decref(t);
        free(names[i]);
    }
    return LAIR_OK;
}

enum lair_err template_get(const char *data_dir, const char *name, json_t **out, bool *shipped)
{
    *out = shipped_find(name);
    if (shipped)
        *shipped = *out != NULL;
    if (*out)
        return LAIR_OK;
    char path[4200];
    if (!path_of(data_dir, name, path, sizeof(path)) || access(path, F_OK))
        return LAIR_ENOTFOUND;
    *out = file_load(path);
    return *out ? LAIR_OK : LAIR_ENOTFOUND;
}

static void count_one(void *arg, const struct template_info *t)
{
    if (!t->shipped)
        (*(size_t *)arg)++;
}

enum lair_err template_publish(const char *data_dir, json_t *t, bool *replaced)
{
    const char *name = json_string_value(json_object_get(t, "name"));
    json_t *s = name ? shipped_find(name) : NULL;
    if (s) {
        json_decref(s);
        return LAIR_ECONFLICT;
    }
    char path[4200], tmp[4300], dir[4200];
    if (!name || !path_of(data_dir, name, path, sizeof(path)))
        return LAIR_EINVAL;
    snprintf(dir, sizeof(dir), "%s/templates", data_dir);
    if (mkdir(dir, 0700) && errno != EEXIST)
        return LAIR_EIO;
    bool exists = access(path, F_OK) == 0;
    if (replaced)
        *replaced = exists;
    size_t count = 0;
    template_list(data_dir, count_one, &count);
    if (!exists && count >= TEMPLATE_MAX_OPERATOR)
        return LAIR_ELIMIT;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    char *text = json_dumps(t, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!text)
        return LAIR_ENOMEM;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t len = strlen(text);
    bool ok = fd >= 0 && write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1 &&
              fsync(fd) == 0;
    int saved = errno;
    free(text);
    if (fd >= 0)
        close(fd);
    if (!ok || rename(tmp, path)) {
        unlink(tmp);
        return saved == ENOSPC ? LAIR_ESTORAGE : LAIR_EIO;
    }
    return LAIR_OK;
}

enum lair_err template_delete(const char *data_dir, const char *name)
{
    json_t *s = shipped_find(name);
    if (s) {
        json_decref(s);
        return LAIR_ECONFLICT;
    }
    char path[4200];
    if (!path_of(data_dir, name, path, sizeof(path)))
        return LAIR_ENOTFOUND;
    if (unlink(path))
        return errno == ENOENT ? LAIR_ENOTFOUND : LAIR_EIO;
    return LAIR_OK;
}

json_t *template_instantiate(json_t *t, const char *slug, const char *name, const char *model,
                             json_t *knowledge_bases)
{
    json_t *spec = json_deep_copy(json_object_get(t, "assistant"));
    if (!spec)
        return NULL;
    json_object_set_new(spec, "slug", json_string(slug));
    if (name)
        json_object_set_new(spec, "name", json_string(name));
    else if (!json_object_get(spec, "name"))
        json_object_set(spec, "name", json_object_get(t, "title"));
    json_object_set_new(spec, "model", json_string(model ? model : "default"));
    if (knowledge_bases)
        json_object_set(spec, "knowledge_bases", knowledge_bases);
    return spec;
}
