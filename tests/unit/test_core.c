/* Unit tests for src/core: strings, the capped buffer, UTF-8, the arena,
 * error tables and JSON helpers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/json.h"
#include "core/str.h"

static void test_str(void **state)
{
    (void)state;
    assert_true(str_eq(S("abc"), str_c("abc")));
    assert_false(str_eq(S("abc"), S("abd")));
    assert_true(str_starts(S("Bearer x"), S("Bearer ")));
    assert_int_equal(str_find(S("hello world"), S("world")), 6);
    assert_int_equal(str_find(S("hello"), S("xyz")), -1);
    struct str t = str_trim(S("  \t hi \n"));
    assert_true(str_eq(t, S("hi")));
}

static void test_buf_cap(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 8);
    assert_int_equal(buf_puts(&b, "12345678"), LAIR_OK);
    assert_int_equal(buf_puts(&b, "9"), LAIR_ETOOBIG);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.ptr, "12345678");
    buf_reset(&b);
    assert_int_equal(buf_printf(&b, "%d-%s", 42, "x"), LAIR_OK);
    assert_string_equal(b.ptr, "42-x");
    size_t len;
    char *p = buf_detach(&b, &len);
    assert_int_equal(len, 4);
    assert_null(b.ptr);
    free(p);
    buf_release(&b);
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(utf8_valid("état civil", strlen("état civil")));
    assert_true(utf8_valid("\xF0\x9F\x98\x80", 4));          /* emoji */
    assert_false(utf8_valid("\xC3", 1));                      /* truncated */
    assert_false(utf8_valid("\xC0\xAF", 2));                  /* overlong */
    assert_false(utf8_valid("\xED\xA0\x80", 3));              /* surrogate */
    assert_false(utf8_valid("\xF4\x90\x80\x80", 4));          /* > U+10FFFF */
    assert_false(utf8_valid("\xff", 1));
    /* "é" is C3 A9: a cut after C3 keeps only the complete part */
    assert_int_equal(utf8_complete_prefix("ab\xC3", 3), 2);
    assert_int_equal(utf8_complete_prefix("ab\xC3\xA9", 4), 4);
    assert_int_equal(utf8_complete_prefix("\xF0\x9F\x98", 3), 0);
    assert_int_equal(utf8_complete_prefix("abc", 3), 3);
}

static void test_arena(void **state)
{
    (void)state;
    struct arena a;
    arena_init(&a, 10000);
    char *p = arena_strndup(&a, "hello", 5);
    assert_string_equal(p, "hello");
    assert_true(((uintptr_t)arena_alloc(&a, 3) & 15) == 0);
    assert_non_null(arena_alloc(&a, 5000)); /* large: own block */
    assert_null(arena_alloc(&a, 6000));     /* over the cap: NULL, not abort */
    char *f = arena_printf(&a, "%s-%d", "n", 7);
    assert_string_equal(f, "n-7");
    arena_release(&a);
}

static void test_err(void **state)
{
    (void)state;
    assert_int_equal(lair_err_status(LAIR_ENOTFOUND), 404);
    assert_int_equal(lair_err_status(LAIR_ETOOBIG), 413);
    assert_int_equal(lair_err_status(LAIR_EBUSY), 503);
    assert_string_equal(lair_err_type(LAIR_EAUTH), "authentication_error");
    assert_string_equal(lair_err_name(LAIR_ECTX), "LAIR_ECTX");
    assert_int_equal(lair_err_status((enum lair_err)9999), 500);
}

static void test_json(void **state)
{
    (void)state;
    char msg[256];
    json_t *o;
    assert_int_equal(json_parse_object(S("{\"a\":1,"), &o, msg, sizeof(msg)), LAIR_EJSON);
    assert_non_null(strstr(msg, "line 1"));
    assert_int_equal(json_parse_object(S("[1]"), &o, msg, sizeof(msg)), LAIR_EJSON);
    assert_int_equal(json_parse_object(S("{\"a\":1,\"a\":2}"), &o, msg, sizeof(msg)), LAIR_EJSON);
    assert_int_equal(json_parse_object(S(""), &o, msg, sizeof(msg)), LAIR_EJSON);
    assert_int_equal(json_parse_object(S("{\"t\":0.5,\"n\":3,\"s\":\"x\",\"b\":true}"), &o, msg,
                                       sizeof(msg)),
                     LAIR_OK);
    double t = -1;
    long long n = -1;
    bool b = false;
    struct str s = {0};
    assert_int_equal(json_opt_number(o, "t", 0, 2, &t, msg, sizeof(msg)), LAIR_OK);
    assert_true(t == 0.5);
    assert_int_equal(json_opt_number(o, "t", 0, 0.1, &t, msg, sizeof(msg)), LAIR_EINVAL);
    assert_non_null(strstr(msg, "'t'"));
    assert_int_equal(json_opt_int(o, "n", 1, 5, &n, msg, sizeof(msg)), LAIR_OK);
    assert_int_equal(n, 3);
    assert_int_equal(json_opt_int(o, "s", 1, 5, &n, msg, sizeof(msg)), LAIR_EINVAL);
    assert_int_equal(json_opt_bool(o, "b", &b, msg, sizeof(msg)), LAIR_OK);
    assert_true(b);
    assert_int_equal(json_opt_string(o, "s", &s, msg, sizeof(msg)), LAIR_OK);
    assert_true(str_eq(s, S("x")));
    assert_int_equal(json_opt_string(o, "missing", &s, msg, sizeof(msg)), LAIR_OK);
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(json_dump_buf(o, &out), LAIR_OK);
    assert_non_null(strstr(out.ptr, "\"n\":3"));
    buf_release(&out);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_str),   cmocka_unit_test(test_buf_cap), cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_arena), cmocka_unit_test(test_err),     cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
