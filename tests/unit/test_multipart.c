/* Tests of the multipart/form-data parser (src/http/multipart.c): well-formed
 * uploads as curl and browsers send them, then hostile ones: path tricks and
 * control characters in file names, bidirectional overrides, invalid UTF-8,
 * boundaries that lie, truncated bodies, folded or oversized headers, too
 * many parts, and every truncation and many byte flips of a valid body
 * (which must never crash, under ASan too). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/multipart.h"

#include "core/banned.h"

#define CT "multipart/form-data; boundary=XyZ"

struct parsed {
    struct arena a;
    struct multipart_part *parts;
    size_t n;
    char msg[256];
    enum lair_err e;
};

static void parse_ct(struct parsed *p, const char *ct, const char *body, size_t len)
{
    arena_init(&p->a, 1 << 20);
    p->msg[0] = 0;
    p->e = multipart_parse(ct, (struct str){body, len}, NULL, &p->a, &p->parts, &p->n, p->msg,
                           sizeof(p->msg));
}

static void parse(struct parsed *p, const char *body)
{
    parse_ct(p, CT, body, strlen(body));
}

static void done(struct parsed *p)
{
    arena_release(&p->a);
}

static void expect(const char *body, enum lair_err want, const char *msg_part)
{
    struct parsed p;
    parse(&p, body);
    if (p.e != want)
        print_error("body: %s\ngot %d (%s), want %d\n", body, p.e, p.msg, want);
    assert_int_equal(p.e, want);
    if (msg_part && !strstr(p.msg, msg_part))
        print_error("body: %s\nmessage: %s\n", body, p.msg);
    if (msg_part)
        assert_non_null(strstr(p.msg, msg_part));
    done(&p);
}

static void test_one_file(void **state)
{
    (void)state;
    /* the data holds CRLFs, "--" and a boundary-like string not at a line start */
    static const char body[] =
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "line 1\r\n--Xy\r\nnot--XyZ\r\n\r\n"
        "\r\n--XyZ--\r\n";
    struct parsed p;
    parse(&p, body);
    assert_int_equal(p.e, LAIR_OK);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.parts[0].name, "file");
    assert_string_equal(p.parts[0].filename, "a.txt");
    assert_true(str_eq_c(p.parts[0].content_type, "text/plain"));
    assert_true(str_eq_c(p.parts[0].data, "line 1\r\n--Xy\r\nnot--XyZ\r\n\r\n"));
    done(&p);
}

static void test_several_parts(void **state)
{
    (void)state;
    /* preamble, an empty file, a field without filename, binary data with a
     * NUL, epilogue, lower-case header names, padding after a delimiter */
    static const char body[] =
        "this is a preamble\r\n"
        "--XyZ  \r\n"
        "content-disposition: FORM-DATA; filename=\"vide.md\"; name=file\r\n"
        "\r\n"
        "\r\n--XyZ\r\n"
        "Content-Disposition: form-data; name=\"note\"\r\n"
        "\r\n"
        "bonjour\r\n--XyZ\r\n"
        "Content-Disposition: form-data; name=\"file\"; filename=\"b.bin\"\r\n"
        "\r\n"
        "a\0b\r\n--XyZ--epilogue";
    struct parsed p;
    parse_ct(&p, CT, body, sizeof(body) - 1);
    assert_int_equal(p.e, LAIR_OK);
    assert_int_equal(p.n, 3);
    assert_string_equal(p.parts[0].filename, "vide.md");
    assert_int_equal(p.parts[0].data.len, 0);
    assert_int_equal(p.parts[0].content_type.len, 0);
    assert_string_equal(p.parts[1].name, "note");
    assert_null(p.parts[1].filename);
    assert_true(str_eq_c(p.parts[1].data, "bonjour"));
    assert_int_equal(p.parts[2].data.len, 3);
    assert_memory_equal(p.parts[2].data.ptr, "a\0b", 3);
    done(&p);
}

static void test_content_type(void **state)
{
    (void)state;
    static const char body[] = "--a'(b)+_,-./:=? c\r\n"
                               "Content-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n"
                               "\r\n"
                               "X\r\n--a'(b)+_,-./:=? c--\r\n";
    struct parsed p;
    parse_ct(&p, "Multipart/Form-Data ; charset=utf-8; Boundary=\"a'(b)+_,-./:=? c\"", body,
             sizeof(body) - 1);
    assert_int_equal(p.e, LAIR_OK);
    assert_int_equal(p.n, 1);
    done(&p);
    const char *const bad[] = {
        NULL,
        "application/json",
        "multipart/form-data",                        /* no boundary */
        "multipart/form-data; boundary=",             /* empty */
        "multipart/form-data; boundary=\"a b \"",     /* ends with a space */
        "multipart/form-data; boundary=a;boundary=b", /* twice */
        "multipart/form-data; boundary=\"unterminated",
        "multipart/form-data; boundary=a{b}", /* not a bchar */
        "multipart/mixed; boundary=XyZ",
        "multipart/form-data; boundary=0123456789012345678901234567890123456789012345678901234"
        "5678901234567", /* 71 characters */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        parse_ct(&p, bad[i], body, sizeof(body) - 1);
        assert_int_equal(p.e, LAIR_EINVAL);
        assert_true(strlen(p.msg) > 10);
        done(&p);
    }
}

static void test_malformed(void **state)
{
    (void)state;
    expect("", LAIR_EINVAL, "no multipart boundary");
    expect("--XyZ--\r\n", LAIR_EINVAL, "no part");
    expect("--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nabc",
           LAIR_EINVAL, "cut");
    expect("--XyZ\r\nContent-Disposition: form-data; name=\"file\"", LAIR_EINVAL,
           "inside a part's headers");
    expect("--XyZ\r\n\r\nabc\r\n--XyZ--", LAIR_EINVAL, "no Content-Disposition");
    expect("--XyZ\r\nContent-Type: text/plain\r\n\r\nabc\r\n--XyZ--", LAIR_EINVAL,
           "no Content-Disposition");
    expect("--XyZ\r\nContent-Disposition: attachment; name=\"file\"\r\n\r\nabc\r\n--XyZ--",
           LAIR_EINVAL, "form-data");
    expect("--XyZ\r\nContent-Disposition: form-data; filename=\"a\"\r\n\r\nabc\r\n--XyZ--",
           LAIR_EINVAL, "no name");
    expect("--XyZ\r\nContent-Disposition: form-data; name=\"a\"; name=\"b\"\r\n\r\nx\r\n--XyZ--",
           LAIR_EINVAL, NULL);
    expect("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n"
           "Content-Disposition: form-data; name=\"b\"\r\n\r\nx\r\n--XyZ--",
           LAIR_EINVAL, "two Content-Disposition");
    /* obsolete line folding */
    expect("--XyZ\r\nContent-Disposition: form-data;\r\n name=\"a\"\r\n\r\nx\r\n--XyZ--",
           LAIR_EINVAL, "folded");
    /* bare LF line ends */
    expect("--XyZ\nContent-Disposition: form-data; name=\"a\"\n\nx\n--XyZ--", LAIR_EINVAL, NULL);
    /* a stray CR inside a header line */
    expect("--XyZ\r\nContent-Disposition: form-data; name=\"a\r\"\r\n\r\nx\r\n--XyZ--", LAIR_EINVAL,
           NULL);
    expect("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n"
           "Content-Transfer-Encoding: base64\r\n\r\neA==\r\n--XyZ--",
           LAIR_EINVAL, "Content-Transfer-Encoding");
    expect("--XyZjunk\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--XyZ--",
           LAIR_EINVAL, "delimiter");
    /* the boundary of another request in the body */
    expect("--Other\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--Other--",
           LAIR_EINVAL, NULL);
}

static void test_limits(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    for (int i = 0; i < MULTIPART_MAX_PARTS + 1; i++)
        assert_int_equal(buf_printf(&b,
                                    "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
                                    "filename=\"f%d.txt\"\r\n\r\nx\r\n",
                                    i),
                         LAIR_OK);
    assert_int_equal(buf_puts(&b, "--XyZ--\r\n"), LAIR_OK);
    struct parsed p;
    parse(&p, b.ptr);
    assert_int_equal(p.e, LAIR_ELIMIT);
    done(&p);
    /* the same with a limit that allows it */
    struct multipart_limits lim = {.max_parts = MULTIPART_MAX_PARTS + 1};
    arena_init(&p.a, 1 << 20);
    p.e = multipart_parse(CT, buf_str(&b), &lim, &p.a, &p.parts, &p.n, p.msg, sizeof(p.msg));
    assert_int_equal(p.e, LAIR_OK);
    assert_int_equal(p.n, MULTIPART_MAX_PARTS + 1);
    done(&p);
    /* headers of a part past the limit, complete or not */
    buf_reset(&b);
    buf_puts(&b,
             "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\nX-Pad: ");
    for (int i = 0; i < MULTIPART_MAX_HEADER_BYTES; i++)
        buf_append(&b, "a", 1);
    buf_puts(&b, "\r\n\r\nx\r\n--XyZ--");
    parse(&p, b.ptr);
    assert_int_equal(p.e, LAIR_ELIMIT);
    done(&p);
    b.len -= 16;
    b.ptr[b.len] = 0;
    parse(&p, b.ptr);
    assert_int_equal(p.e, LAIR_ELIMIT);
    done(&p);
    buf_release(&b);
}

/* Parses a one-file body whose Content-Disposition parameters are cd. */
static enum lair_err with_disposition(const char *cd, char *name, size_t cap)
{
    struct buf b;
    buf_init(&b, 0);
    buf_printf(&b, "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; %s\r\n\r\nx\r\n--XyZ--",
               cd);
    struct parsed p;
    parse_ct(&p, CT, b.ptr, b.len);
    if (p.e == LAIR_OK)
        snprintf(name, cap, "%s", p.parts[0].filename ? p.parts[0].filename : "(none)");
    else
        snprintf(name, cap, "%s", p.msg);
    enum lair_err e = p.e;
    done(&p);
    buf_release(&b);
    return e;
}

static void test_file_names(void **state)
{
    (void)state;
    char got[512];
    static const struct {
        const char *cd, *name;
    } good[] = {
        {"filename=\"rapport 2024.pdf\"", "rapport 2024.pdf"},
        {"filename=plain.txt", "plain.txt"},
        {"filename=\"  espaces.txt  \"", "espaces.txt"},
        {"filename=\"a\\\"b.txt\"", "a\"b.txt"}, /* curl's escaped quote */
        {"filename=\"d\xc3\xa9lib\xc3\xa9ration.odt\"", "d\xc3\xa9lib\xc3\xa9ration.odt"},
        {"filename=\"e\xcc\x81t\xc3\xa9.md\"", "\xc3\xa9t\xc3\xa9.md"}, /* NFD becomes NFC */
        {"filename=\"x.txt\"; filename*=UTF-8''%C3%A9t%C3%A9.pdf", "\xc3\xa9t\xc3\xa9.pdf"},
        {"filename=\"..hidden..txt\"", "..hidden..txt"},
        {"filename=\"%2e%2e%2fetc\"", "%2e%2e%2fetc"}, /* literal: never decoded into a path */
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        enum lair_err e = with_disposition(good[i].cd, got, sizeof(got));
        if (e)
            print_error("%s: %s\n", good[i].cd, got);
        assert_int_equal(e, LAIR_OK);
        assert_string_equal(got, good[i].name);
    }
    char longname[400];
    memset(longname, 'a', sizeof(longname));
    longname[sizeof(longname) - 1] = 0;
    char longcd[450];
    snprintf(longcd, sizeof(longcd), "filename=\"%s\"", longname);
    const char *const bad[] = {
        "filename=\"../../etc/passwd\"",
        "filename=\"/etc/passwd\"",
        "filename=\"dossier/a.pdf\"",
        "filename=\"C:\\\\Users\\\\x\\\\a.pdf\"",
        "filename=\"..\\\\..\\\\boot.ini\"",
        "filename=\"..\"",
        "filename=\".\"",
        "filename=\"...\"",
        "filename=\"\"",
        "filename=\"   \"",
        "filename=\"a\x01"
        "b.txt\"",
        "filename=\"a\tb.txt\"",
        "filename=\"a\x7f"
        "b.txt\"",
        "filename=\"a\xc2\x85"
        "b.txt\"", /* C1 control NEL */
        "filename=\"\xe2\x80\xae"
        "fdp.exe\"", /* right-to-left override */
        "filename=\"a\xe2\x81\xa6"
        "b\"",                           /* left-to-right isolate */
        "filename=\"\xff\xfe.txt\"",     /* invalid UTF-8 */
        "filename=\"\xc0\xae\xc0\xae\"", /* overlong dots */
        "filename*=UTF-8''..%2F..%2Fetc%2Fpasswd",
        "filename*=UTF-8''a%00b",
        "filename*=ISO-8859-1''caf%E9",
        "filename*=UTF-8''%ZZ",
        "filename*=UTF-8''%4",
        longcd,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum lair_err e = with_disposition(bad[i], got, sizeof(got));
        if (e != LAIR_EUNPROC)
            print_error("%s: got %d (%s)\n", bad[i], e, got);
        assert_int_equal(e, LAIR_EUNPROC);
    }
    /* a NUL byte inside a quoted file name */
    static const char nul[] = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
                              "filename=\"a\0.txt\"\r\n\r\nx\r\n--XyZ--";
    struct parsed p;
    parse_ct(&p, CT, nul, sizeof(nul) - 1);
    assert_int_not_equal(p.e, LAIR_OK);
    done(&p);
    /* the checker on its own */
    struct arena a;
    arena_init(&a, 1 << 16);
    const char *out;
    char msg[200];
    assert_int_equal(multipart_filename(S("ok.pdf"), &a, &out, msg, sizeof(msg)), LAIR_OK);
    assert_string_equal(out, "ok.pdf");
    assert_int_equal(multipart_filename((struct str){"a\0b", 3}, &a, &out, msg, sizeof(msg)),
                     LAIR_EUNPROC);
    arena_release(&a);
}

/* Every prefix of a valid body, and bytes flipped one at a time: any
 * answer but a crash or an out-of-bounds read (ASan) is fine; parts always
 * lie inside the body. */
static void test_hostile_mutations(void **state)
{
    (void)state;
    static const char valid[] =
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"file\"; filename=\"a b.txt\"; "
        "filename*=UTF-8''%C3%A9\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "bonjour\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"file\"; filename=\"c.md\"\r\n"
        "\r\n"
        "# Titre\r\n"
        "--XyZ--\r\n";
    size_t len = sizeof(valid) - 1;
    char *copy = malloc(len);
    assert_non_null(copy);
    for (size_t cut = 0; cut <= len; cut++) {
        memcpy(copy, valid, cut);
        struct parsed p;
        parse_ct(&p, CT, copy, cut);
        for (size_t i = 0; p.e == LAIR_OK && i < p.n; i++)
            assert_true(p.parts[i].data.ptr >= copy &&
                        p.parts[i].data.ptr + p.parts[i].data.len <= copy + cut);
        done(&p);
    }
    static const unsigned char flips[] = {0x00, 0x01, 0x0a, 0x0d, 0x22,
                                          0x2d, 0x3b, 0x5c, 0x80, 0xff};
    for (size_t i = 0; i < len; i++)
        for (size_t f = 0; f < sizeof(flips); f++) {
            memcpy(copy, valid, len);
            copy[i] = (char)flips[f];
            struct parsed p;
            parse_ct(&p, CT, copy, len);
            for (size_t k = 0; p.e == LAIR_OK && k < p.n; k++) {
                assert_true(p.parts[k].data.ptr >= copy &&
                            p.parts[k].data.ptr + p.parts[k].data.len <= copy + len);
                if (p.parts[k].filename) {
                    assert_null(strchr(p.parts[k].filename, '/'));
                    assert_null(strchr(p.parts[k].filename, '\\'));
                }
            }
            done(&p);
        }
    /* a small arena: out of memory is reported, not a crash */
    struct parsed p;
    arena_init(&p.a, 64);
    p.e = multipart_parse(CT, (struct str){valid, len}, NULL, &p.a, &p.parts, &p.n, p.msg,
                          sizeof(p.msg));
    assert_int_equal(p.e, LAIR_ENOMEM);
    done(&p);
    free(copy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_file),
        cmocka_unit_test(test_several_parts),
        cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_file_names),
        cmocka_unit_test(test_hostile_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
