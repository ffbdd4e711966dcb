/* libreair model: look inside a GGUF file (model info) and fetch one by URL
 * (model pull). Both are for operators preparing a machine, so messages say
 * what to do next, and `pull` ends with the file's path alone on stdout so a
 * script can take it with `tail -n1`. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/str.h"
#include "llm/llm.h"
#include "llm/pull.h"

#include "core/banned.h"

#define EXIT_USAGE 2

static const char usage_model[] =
    "usage: libreair model <command> [options]\n"
    "\n"
    "Commands:\n"
    "  info PATH [--json]     describe a GGUF model file without loading its weights\n"
    "  pull URL [options]     download a model file over http(s), resumable and verified\n"
    "\n"
    "Run 'libreair model <command> --help' for a command's options.\n";

static const char usage_info[] =
    "usage: libreair model info PATH [--json]\n"
    "\n"
    "Reads the metadata of a GGUF file (not its weights) and prints its architecture,\n"
    "parameter count, context length, quantisation, vocabulary and chat template.\n"
    "\n"
    "  --json       print every detail as one JSON object\n"
    "  -h, --help   show this help\n";

static const char usage_pull[] =
    "usage: libreair model pull URL [-o PATH] [--sha256 HEX] [--models-dir DIR]\n"
    "                               [--retries N] [-q]\n"
    "\n"
    "Downloads URL (http or https) to DIR/NAME, NAME being the last segment of the URL's\n"
    "path. The file is written as NAME.part and renamed once complete and verified;\n"
    "an interrupted download resumes when the same command is run again. A file that\n"
    "already exists is not downloaded again (with --sha256 it is checked). On success\n"
    "the file's path is printed alone on the last line of stdout.\n"
    "\n"
    "  -o, --output PATH   save to PATH instead of DIR/NAME\n"
    "  --sha256 HEX        expected SHA-256 of the file (64 hex digits); a mismatch\n"
    "                      deletes the download and fails\n"
    "  --models-dir DIR    where models go (default: $LIBREAIR_MODELS, else ./models)\n"
    "  --retries N         resume automatically after up to N dropped connections\n"
    "                      (default 5; 0 to never retry)\n"
    "  -q, --quiet         no progress display\n"
    "  -h, --help          show this help\n";

static int usage_error(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("libreair model: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n\n", stderr);
    fputs(usage, stderr);
    return EXIT_USAGE;
}

/* Matches "--name VALUE" and "--name=VALUE" (and the short alias if any).
 * Returns 1 when matched (*val set, *i advanced), 0 when not this option,
 * -1 when the value is missing. */
static int opt_value(int argc, char **argv, int *i, const char *name, const char *alias,
                     const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) == 0 && a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (strcmp(a, name) != 0 && !(alias && strcmp(a, alias) == 0))
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *val = argv[++*i];
    return 1;
}

/* ---- model info ---- */

static void fmt_count(char *out, size_t n, json_int_t v)
{
    double d = (double)v;
    if (v < 1000)
        snprintf(out, n, "%lld", (long long)v);
    else if (d < 1e6)
        snprintf(out, n, "%.1f K", d / 1e3);
    else if (d < 1e9)
        snprintf(out, n, "%.1f M", d / 1e6);
    else
        snprintf(out, n, "%.1f B", d / 1e9);
}

static void fmt_bytes(char *out, size_t n, double b)
{
    if (b >= 1e9)
        snprintf(out, n, "%.2f GB", b / 1e9);
    else if (b >= 1e6)
        snprintf(out, n, "%.1f MB", b / 1e6);
    else if (b >= 1e3)
        snprintf(out, n, "%.1f kB", b / 1e3);
    else
        snprintf(out, n, "%.0f B", b);
}

/* Prints text with control bytes replaced, so that metadata cannot move the
 * cursor or change the terminal's colours; at most max bytes, whole UTF-8
 * characters only, "…" when cut. */
static void put_clean(const char *s, size_t len, size_t max)
{
    bool cut = len > max;
    if (cut)
        len = utf8_complete_prefix(s, max);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        putchar(c < 0x20 || c == 0x7f ? '?' : c);
    }
    if (cut)
        fputs("…", stdout);
}

static void field(const char *label, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void field(const char *label, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    printf("%-15s ", label);
    put_clean(line, strlen(line), sizeof(line));
    putchar('\n');
}

static void field_str(const char *label, json_t *v, size_t max)
{
    const char *s = json_string_value(v);
    if (!s)
        return;
    printf("%-15s ", label);
    put_clean(s, json_string_length(v), max);
    putchar('\n');
}

static void field_int(const char *label, json_t *v, const char *suffix)
{
    if (json_is_integer(v))
        field(label, "%lld%s", (long long)json_integer_value(v), suffix);
}

static void print_template(json_t *tpl)
{
    const char *s = json_string_value(tpl);
    if (!s) {
        field("chat template", "none (ChatML is used)");
        return;
    }
    /* The first line that says something, and how much more there is. */
    struct str all = {s, json_string_length(tpl)}, first = {0};
    size_t lines = 0;
    for (size_t i = 0; i < all.len;) {
        size_t j = i;
        while (j < all.len && all.ptr[j] != '\n')
            j++;
        struct str l = str_trim((struct str){all.ptr + i, j - i});
        if (l.len) {
            lines++;
            if (!first.ptr)
                first = l;
        }
        i = j + 1;
    }
    printf("%-15s ", "chat template");
    if (!first.ptr)
        first = S("(empty)");
    put_clean(first.ptr, first.len, 60);
    if (lines > 1)
        printf(" (%zu lines)", lines);
    putchar('\n');
}

static void print_tensor_types(json_t *types)
{
    char line[256] = "";
    size_t used = 0;
    const char *key;
    json_t *v;
    json_object_foreach(types, key, v)
    {
        int n = snprintf(line + used, sizeof(line) - used, "%s%s %lld", used ? ", " : "", key,
                         (long long)json_integer_value(v));
        if (n < 0 || (size_t)n >= sizeof(line) - used)
            break;
        used += (size_t)n;
    }
    if (used)
        field("tensor types", "%s", line);
}

static void print_info(const char *path, json_t *j)
{
    char a[32], b[32];
    fmt_bytes(a, sizeof(a), (double)json_integer_value(json_object_get(j, "file_size")));
    field("file", "%s (%s)", path, a);
    field_str("architecture", json_object_get(j, "architecture"), 100);
    field_str("name", json_object_get(j, "name"), 100);
    field_str("type", json_object_get(j, "type"), 100);
    fmt_count(a, sizeof(a), json_integer_value(json_object_get(j, "parameters")));
    field("parameters", "%s", a);
    field_int("context", json_object_get(j, "context_length"), " tokens");
    field_int("embedding", json_object_get(j, "embedding_length"), "");
    field_int("layers", json_object_get(j, "block_count"), "");
    json_t *h = json_object_get(j, "head_count"), *hkv = json_object_get(j, "head_count_kv");
    if (json_is_integer(h) && json_is_integer(hkv))
        field("heads", "%lld (%lld key/value)", (long long)json_integer_value(h),
              (long long)json_integer_value(hkv));
    else
        field_int("heads", h, "");
    const char *q = json_string_value(json_object_get(j, "quantisation"));
    json_t *ft = json_object_get(j, "file_type");
    if (q && json_is_integer(ft))
        field("quantisation", "%s (file type %lld)", q, (long long)json_integer_value(ft));
    else if (q)
        field("quantisation", "%s", q);
    print_tensor_types(json_object_get(j, "tensor_types"));
    const char *vt = json_string_value(json_object_get(j, "vocab_type"));
    json_t *vs = json_object_get(j, "vocab_size");
    if (vt || json_is_integer(vs)) {
        fmt_count(b, sizeof(b), json_integer_value(vs));
        field("vocabulary", "%s, %s tokens", vt ? vt : "?", json_is_integer(vs) ? b : "?");
    }
    field_str("pooling", json_object_get(j, "pooling"), 100);
    print_template(json_object_get(j, "chat_template"));
}

/* Why llm_gguf_info_json refused path, in words a person can act on. */
static void explain_info_error(const char *path, enum lair_err e)
{
    struct stat sb;
    if (e == LAIR_EIO) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        const char *why = fd < 0 ? strerror(errno) : "read error";
        if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode))
            why = "is a directory";
        else if (fd >= 0 && fstat(fd, &sb) == 0 && !S_ISREG(sb.st_mode))
            why = "not a regular file";
        if (fd >= 0)
            close(fd);
        fprintf(stderr, "libreair model info: cannot read %s: %s\n", path, why);
        return;
    }
    if (e != LAIR_EMODEL) {
        fprintf(stderr, "libreair model info: %s: %s\n", path, lair_err_msg(e));
        return;
    }
    char magic[4] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t r = fd >= 0 ? read(fd, magic, sizeof(magic)) : -1;
    if (fd >= 0)
        close(fd);
    if (r != (ssize_t)sizeof(magic) || memcmp(magic, "GGUF", 4) != 0)
        fprintf(stderr,
                "libreair model info: %s is not a GGUF model file (it does not start with "
                "\"GGUF\")\n",
                path);
    else
        fprintf(stderr,
                "libreair model info: %s is a damaged GGUF file (corrupt or truncated); "
                "download it again\n",
                path);
}

static int model_info(int argc, char **argv)
{
    const char *path = NULL;
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(usage_info, stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            as_json = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return usage_error(usage_info, "unknown option %s", argv[i]);
        } else if (path) {
            return usage_error(usage_info, "unexpected argument %s", argv[i]);
        } else {
            path = argv[i];
        }
    }
    if (!path)
        return usage_error(usage_info, "%s", "a model file is required");

    llm_global_init();
    struct buf out;
    buf_init(&out, 0);
    enum lair_err e = llm_gguf_info_json(path, &out);
    if (e) {
        buf_release(&out);
        explain_info_error(path, e);
        return 1;
    }
    json_t *j = json_loadb(out.ptr, out.len, 0, NULL);
    buf_release(&out);
    if (!j) {
        fprintf(stderr, "libreair model info: %s\n", lair_err_msg(LAIR_ENOMEM));
        return 1;
    }
    if (as_json) {
        json_dumpf(j, stdout, JSON_INDENT(2));
        putchar('\n');
    } else {
        print_info(path, j);
    }
    json_decref(j);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- model pull ---- */

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The file name a URL suggests: its path's last segment, percent-decoded, then
 * reduced to [A-Za-z0-9._-] with no leading dot and no "..", so that no URL
 * can choose where the file lands. Empty when nothing usable is left. */
static void name_from_url(const char *url, struct buf *out)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t end = strcspn(p, "?#");
    const char *path = memchr(p, '/', end);
    if (!path)
        return;
    const char *seg = path;
    for (const char *q = path; q < p + end; q++)
        if (*q == '/')
            seg = q + 1;
    size_t len = (size_t)(p + end - seg);
    char prev = '.'; /* as if a dot came before: drops leading dots */
    for (size_t i = 0; i < len && out->len < 200; i++) {
        char c = seg[i];
        if (c == '%' && i + 2 < len && hex_digit(seg[i + 1]) >= 0 && hex_digit(seg[i + 2]) >= 0) {
            c = (char)(hex_digit(seg[i + 1]) * 16 + hex_digit(seg[i + 2]));
            i += 2;
        }
        bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
        if (!keep)
            c = '_';
        if (c == '.' && prev == '.')
            continue;
        buf_append(out, &c, 1);
        prev = c;
    }
}

/* mkdir -p for the directory part of path. */
static int make_parent_dirs(const char *path)
{
    struct buf b;
    buf_init(&b, 0);
    const char *slash = strrchr(path, '/');
    int rc = 0;
    if (slash && slash != path && buf_append(&b, path, (size_t)(slash - path)) == LAIR_OK) {
        for (char *q = b.ptr + 1;; q++) {
            char c = *q;
            if (c != '/' && c != 0)
                continue;
            *q = 0;
            if (mkdir(b.ptr, 0755) != 0 && errno != EEXIST) {
                rc = -1;
                break;
            }
            *q = c;
            if (!c)
                break;
        }
    }
    buf_release(&b);
    return rc;
}

static bool has_gguf_magic(const char *path)
{
    char magic[4];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t r = fd >= 0 ? read(fd, magic, sizeof(magic)) : -1;
    if (fd >= 0)
        close(fd);
    return r == (ssize_t)sizeof(magic) && memcmp(magic, "GGUF", 4) == 0;
}

struct pull_args {
    const char *url, *output, *sha256, *models_dir;
    int retries;
    bool quiet;
};

static int parse_pull(int argc, char **argv, struct pull_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int m = 0;
        if (cli_is_help(argv[i])) {
            fputs(usage_pull, stdout);
            return -1;
        }
        if ((m = opt_value(argc, argv, &i, "--output", "-o", &v)) != 0) {
            a->output = v;
        } else if ((m = opt_value(argc, argv, &i, "--sha256", NULL, &v)) != 0) {
            a->sha256 = v;
        } else if ((m = opt_value(argc, argv, &i, "--models-dir", NULL, &v)) != 0) {
            a->models_dir = v;
        } else if ((m = opt_value(argc, argv, &i, "--retries", NULL, &v)) != 0) {
            char *end;
            errno = 0;
            long n = v ? strtol(v, &end, 10) : -1;
            if (!v || errno || end == v || *end || n < 0 || n > 1000)
                return usage_error(usage_pull, "--retries wants a number from 0 to 1000, not %s",
                                   v ? v : "nothing");
            a->retries = n == 0 ? -1 : (int)n;
        } else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
            a->quiet = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return usage_error(usage_pull, "unknown option %s", argv[i]);
        } else if (a->url) {
            return usage_error(usage_pull, "unexpected argument %s", argv[i]);
        } else {
            a->url = argv[i];
        }
        if (m < 0)
            return usage_error(usage_pull, "%s needs a value", argv[i]);
    }
    if (!a->url)
        return usage_error(usage_pull, "%s", "a URL is required");
    if (strncasecmp(a->url, "http://", 7) != 0 && strncasecmp(a->url, "https://", 8) != 0)
        return usage_error(usage_pull, "only http:// and https:// URLs are supported, not %s",
                           a->url);
    if (a->sha256 && !pull_sha256_valid(a->sha256))
        return usage_error(usage_pull, "--sha256 wants 64 hexadecimal digits, not %s", a->sha256);
    if (a->output && !*a->output)
        return usage_error(usage_pull, "%s", "--output wants a file path");
    return 0;
}

/* OUT: dest gets where the file goes. Returns an exit status, or -1 to go on. */
static int pull_dest(const struct pull_args *a, struct buf *dest)
{
    if (a->output)
        return buf_puts(dest, a->output) == LAIR_OK ? -1 : 1;
    struct buf name;
    buf_init(&name, 0);
    name_from_url(a->url, &name);
    if (name.len == 0) {
        buf_release(&name);
        return usage_error(usage_pull, "cannot take a file name from %s; use -o PATH", a->url);
    }
    const char *dir = a->models_dir;
    if (!dir || !*dir)
        dir = getenv("LIBREAIR_MODELS");
    if (!dir || !*dir)
        dir = "models";
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    enum lair_err e = buf_printf(dest, "%.*s/%s", (int)dl, dir, name.ptr);
    buf_release(&name);
    return e == LAIR_OK ? -1 : 1;
}

static int pull_to(const struct pull_args *a, const char *dest)
{
    if (make_parent_dirs(dest) != 0) {
        fprintf(stderr, "libreair model pull: cannot create the directory for %s: %s\n", dest,
                strerror(errno));
        return 1;
    }
    struct pull_opts o = {
        .url = a->url,
        .dest = dest,
        .sha256 = a->sha256,
        .progress = a->quiet ? PULL_PROGRESS_NONE : PULL_PROGRESS_AUTO,
        .retries = a->retries,
    };
    struct pull_result res;
    struct buf msg;
    buf_init(&msg, 0);
    enum lair_err e = model_pull(&o, &res, &msg);
    if (e) {
        fprintf(stderr, "libreair model pull: %s\n", msg.len ? msg.ptr : lair_err_msg(e));
        buf_release(&msg);
        return e == LAIR_EINVAL ? EXIT_USAGE : 1;
    }
    buf_release(&msg);
    char size[32];
    fmt_bytes(size, sizeof(size), (double)res.size);
    if (res.already)
        fprintf(stderr, "%s already exists (%s%s); not downloaded again\n", dest, size,
                a->sha256 ? ", sha256 verified" : "");
    else
        fprintf(stderr, "saved %s (%s, sha256 %s%s)\n", dest, size, res.sha256,
                a->sha256 ? ", verified" : "");
    if (!has_gguf_magic(dest))
        fprintf(stderr,
                "warning: %s is not a GGUF file; for a Hugging Face model, use the "
                "'/resolve/' URL rather than the '/blob/' page\n",
                dest);
    printf("%s\n", dest);
    return fflush(stdout) == 0 ? 0 : 1;
}

static int model_pull_cmd(int argc, char **argv)
{
    struct pull_args a = {0};
    int rc = parse_pull(argc, argv, &a);
    if (rc)
        return rc < 0 ? 0 : rc;
    struct buf dest;
    buf_init(&dest, 0);
    rc = pull_dest(&a, &dest);
    if (rc < 0)
        rc = pull_to(&a, dest.ptr);
    buf_release(&dest);
    return rc;
}

int cmd_model(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_model, stderr);
        return EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (cli_is_help(sub) || strcmp(sub, "help") == 0) {
        fputs(usage_model, stdout);
        return 0;
    }
    if (strcmp(sub, "info") == 0)
        return model_info(argc - 1, argv + 1);
    if (strcmp(sub, "pull") == 0)
        return model_pull_cmd(argc - 1, argv + 1);
    return usage_error(usage_model, "unknown command '%s'", sub);
}
