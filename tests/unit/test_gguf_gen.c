/* Tests tools/gguf-gen: each tiny preset must write a file that the pinned
 * llama.cpp loads with the requested shape and the vocabulary's tokens, and
 * that runs (finite logits for llama and qwen2, a finite non-zero pooled
 * embedding for bert). Bad arguments must fail without leaving a file. */
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <gguf.h>
#include <llama.h>

#include "core/banned.h"

static char gen_path[PATH_MAX];
static char vocab_dir[PATH_MAX];
static char tmp_dir[] = "/tmp/lair-gguf-gen-XXXXXX";

static void quiet_log(enum ggml_log_level level, const char *text, void *user)
{
    if (level == GGML_LOG_LEVEL_ERROR)
        fputs(text, stderr);
}

/* llama.cpp's models/ folder, from scripts/llama.sh src (the source is
 * fetched once per machine; afterwards this returns at once). */
static int find_vocab_dir(void)
{
    const char *env = getenv("LAIR_VOCAB_DIR");
    if (env && *env) {
        snprintf(vocab_dir, sizeof(vocab_dir), "%s", env);
        return 0;
    }
    const char *src = getenv("LAIR_SRC");
    if (!src) {
        fprintf(stderr, "LAIR_SRC is not set\n");
        return -1;
    }
    char cmd[PATH_MAX + 32], line[PATH_MAX - 64];
    snprintf(cmd, sizeof(cmd), "'%s/scripts/llama.sh' src", src);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char *got = fgets(line, sizeof(line), p);
    if (pclose(p) != 0 || !got)
        return -1;
    line[strcspn(line, "\n")] = '\0';
    snprintf(vocab_dir, sizeof(vocab_dir), "%s/models", line);
    return 0;
}

static int setup(void **state)
{
    const char *build = getenv("LAIR_BUILD");
    if (!build) {
        fprintf(stderr, "LAIR_BUILD is not set\n");
        return -1;
    }
    snprintf(gen_path, sizeof(gen_path), "%s/gguf-gen", build);
    if (access(gen_path, X_OK) != 0) {
        fprintf(stderr, "%s is not built\n", gen_path);
        return -1;
    }
    if (find_vocab_dir() != 0 || !mkdtemp(tmp_dir))
        return -1;
    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    return 0;
}

static int teardown(void **state)
{
    static const char *const names[] = {"llama.gguf", "qwen2.gguf", "bert.gguf", "cls.gguf",
                                        "a.gguf",     "b.gguf",     "c.gguf",    "bad.gguf"};
    char path[PATH_MAX];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", tmp_dir, names[i]);
        unlink(path);
    }
    rmdir(tmp_dir);
    llama_backend_free();
    return 0;
}

static const char *tmp_file(const char *name)
{
    static char buf[8][PATH_MAX];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, PATH_MAX, "%s/%s", tmp_dir, name);
    return p;
}

/* Runs gguf-gen with ARGS (NULL-terminated, without argv[0]); returns its exit
 * status, or -1 if it did not exit normally. */
static int run_gen(bool show_stderr, const char *const *args)
{
    const char *argv[32];
    int n = 0;
    argv[n++] = gen_path;
    for (; *args && n < 30; args++)
        argv[n++] = *args;
    argv[n++] = "--vocab-dir";
    argv[n++] = vocab_dir;
    argv[n] = NULL;

    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (!show_stderr && !freopen("/dev/null", "w", stderr))
            _exit(127);
        execv(gen_path, (char *const *)argv);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static int vocab_tokens(const char *file)
{
    char path[PATH_MAX + 256];
    snprintf(path, sizeof(path), "%s/%s", vocab_dir, file);
    struct gguf_init_params ip = {.no_alloc = true, .ctx = NULL};
    struct gguf_context *g = gguf_init_from_file(path, ip);
    if (!g)
        return -1;
    int64_t k = gguf_find_key(g, "tokenizer.ggml.tokens");
    int n = k < 0 ? -1 : (int)gguf_get_arr_n(g, k);
    gguf_free(g);
    return n;
}

static struct llama_model *load(const char *path, const char *arch, int n_embd, int n_layer,
                                const char *vocab_file)
{
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model *m = llama_model_load_from_file(path, mp);
    assert_non_null(m);

    char buf[64];
    assert_true(llama_model_meta_val_str(m, "general.architecture", buf, sizeof(buf)) > 0);
    assert_string_equal(buf, arch);
    assert_int_equal(llama_model_n_embd(m), n_embd);
    assert_int_equal(llama_model_n_layer(m), n_layer);
    int n_vocab = vocab_tokens(vocab_file);
    assert_true(n_vocab > 0);
    assert_int_equal(llama_vocab_n_tokens(llama_model_get_vocab(m)), n_vocab);
    return m;
}

static int tokenize(const struct llama_model *m, llama_token *toks, int cap)
{
    static const char text[] = "Bonjour, this is a short prompt.";
    int n = llama_tokenize(llama_model_get_vocab(m), text, (int32_t)strlen(text), toks, cap, true,
                           false);
    assert_true(n > 0);
    return n;
}

static struct llama_context *new_context(struct llama_model *m, bool embeddings)
{
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 64;
    cp.n_batch = 64;
    cp.n_ubatch = 64;
    cp.n_seq_max = 1;
    cp.n_threads = 2;
    cp.n_threads_batch = 2;
    cp.embeddings = embeddings;
    struct llama_context *ctx = llama_init_from_model(m, cp);
    assert_non_null(ctx);
    return ctx;
}

/* Decodes a prompt, then one more token through the KV cache; each time the
 * logits must be finite and not all equal. */
static void check_decode(struct llama_model *m)
{
    struct llama_context *ctx = new_context(m, false);
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(m));
    llama_token toks[32];
    int n = tokenize(m, toks, 32);

    for (int step = 0; step < 2; step++) {
        assert_int_equal(llama_decode(ctx, llama_batch_get_one(toks, n)), 0);
        const float *logits = llama_get_logits_ith(ctx, -1);
        assert_non_null(logits);
        int best = 0;
        float lo = logits[0], hi = logits[0];
        for (int i = 0; i < n_vocab; i++) {
            assert_true(isfinite(logits[i]));
            lo = logits[i] < lo ? logits[i] : lo;
            if (logits[i] > hi) {
                hi = logits[i];
                best = i;
            }
        }
        assert_true(hi > lo);
        toks[0] = best;
        n = 1;
    }
    llama_free(ctx);
}

static void check_embedding(struct llama_model *m, enum llama_pooling_type pooling)
{
    struct llama_context *ctx = new_context(m, true);
    assert_int_equal(llama_pooling_type(ctx), pooling);
    llama_token toks[32];
    int n = tokenize(m, toks, 32);
    assert_int_equal(llama_encode(ctx, llama_batch_get_one(toks, n)), 0);
    const float *e = llama_get_embeddings_seq(ctx, 0);
    assert_non_null(e);
    double sq = 0;
    for (int i = 0; i < llama_model_n_embd(m); i++) {
        assert_true(isfinite(e[i]));
        sq += (double)e[i] * e[i];
    }
    assert_true(sq > 1e-6);
    llama_free(ctx);
}

static void test_tiny_llama(void **state)
{
    /* Flags override the preset: an untied f32 model of another shape. */
    const char *out = tmp_file("llama.gguf");
    const char *args[] = {"tiny-llama", "-q", "--n-embd",    "32", "--n-layer", "3",
                          "--n-head",   "4",  "--n-head-kv", "2",  "--type",    "f32",
                          "--untied",   "-o", out,           NULL};
    assert_int_equal(run_gen(true, args), 0);
    struct llama_model *m = load(out, "llama", 32, 3, "ggml-vocab-llama-spm.gguf");
    assert_int_equal(llama_model_n_head(m), 4);
    assert_int_equal(llama_model_n_head_kv(m), 2);
    check_decode(m);
    llama_model_free(m);
}

static void test_tiny_qwen2(void **state)
{
    const char *out = tmp_file("qwen2.gguf");
    const char *args[] = {"tiny-qwen2", "-q", "-o", out, NULL};
    assert_int_equal(run_gen(true, args), 0);
    struct llama_model *m = load(out, "qwen2", 64, 2, "ggml-vocab-qwen2.gguf");
    const char *tmpl = llama_model_chat_template(m, NULL);
    assert_non_null(tmpl);
    assert_non_null(strstr(tmpl, "<|im_start|>"));
    check_decode(m);
    llama_model_free(m);
}

static void test_tiny_bert(void **state)
{
    const char *out = tmp_file("bert.gguf");
    const char *args[] = {"tiny-bert", "-q", "-o", out, NULL};
    assert_int_equal(run_gen(true, args), 0);
    struct llama_model *m = load(out, "bert", 64, 2, "ggml-vocab-bert-bge.gguf");
    check_embedding(m, LLAMA_POOLING_TYPE_MEAN);
    llama_model_free(m);

    out = tmp_file("cls.gguf");
    const char *cls[] = {"--arch", "bert", "--pooling", "cls", "-q", "-o", out, NULL};
    assert_int_equal(run_gen(true, cls), 0);
    m = load(out, "bert", 64, 2, "ggml-vocab-bert-bge.gguf");
    check_embedding(m, LLAMA_POOLING_TYPE_CLS);
    llama_model_free(m);
}

static bool same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa && fb;
    while (same) {
        int ca = getc(fa), cb = getc(fb);
        same = ca == cb;
        if (ca == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

static void test_deterministic(void **state)
{
    const char *a = tmp_file("a.gguf"), *b = tmp_file("b.gguf"), *c = tmp_file("c.gguf");
    const char *args_a[] = {"tiny-llama", "-q", "--seed", "5", "-o", a, NULL};
    const char *args_b[] = {"tiny-llama", "-q", "--seed", "5", "-o", b, NULL};
    const char *args_c[] = {"tiny-llama", "-q", "--seed", "6", "-o", c, NULL};
    assert_int_equal(run_gen(true, args_a), 0);
    assert_int_equal(run_gen(true, args_b), 0);
    assert_int_equal(run_gen(true, args_c), 0);
    assert_true(same_file(a, b));
    assert_false(same_file(a, c));
}

static void test_bad_arguments(void **state)
{
    const char *out = tmp_file("bad.gguf");
    const char *unknown_arch[] = {"--arch", "gpt5", "-o", out, NULL};
    const char *unknown_preset[] = {"huge-llama", "-o", out, NULL};
    const char *no_output[] = {"tiny-llama", NULL};
    const char *bad_heads[] = {"tiny-llama", "--n-embd", "30", "--n-head", "4", "-o", out, NULL};
    const char *bad_number[] = {"tiny-llama", "--n-layer", "2x", "-o", out, NULL};
    const char *bad_vocab[] = {"tiny-llama", "--vocab", "/nonexistent.gguf", "-o", out, NULL};
    const char *const *cases[] = {unknown_arch, unknown_preset, no_output,
                                  bad_heads,    bad_number,     bad_vocab};
    const char *part = tmp_file("bad.gguf.part");
    struct stat st;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_not_equal(run_gen(false, cases[i]), 0);
        assert_int_not_equal(stat(out, &st), 0);
        assert_int_not_equal(stat(part, &st), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_llama),    cmocka_unit_test(test_tiny_qwen2),
        cmocka_unit_test(test_tiny_bert),     cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
