/* Fuzz target: stop strings and UTF-8 in generation streams (src/llm/
 * registry.c), the producer/consumer hand-off every streamed answer goes
 * through: llm_stream_new, llm_stream_feed, llm_stream_take, llm_stream_finish.
 *
 * Input: a flags byte, up to four stop strings (a length byte, then the
 * bytes), then the pieces a model would emit (a length byte, then the bytes).
 * The stream is checked against a plain model of what it must deliver: after
 * every piece, the text taken so far is the sanitised (each ill-formed byte
 * replaced by U+FFFD) prefix of everything fed, holding back at most a stop
 * string's length minus one plus an unfinished character; a stop string is
 * reported exactly when the first one appears in the text fed, and then the
 * text delivered is all that comes before it. */
#include <string.h>

#include "fuzz.h"
#include "llm/backend.h"

#include "core/banned.h"

#define MAX_STOP 4

/* Length of the well-formed UTF-8 character at p (Unicode table 3-7), 0 when
 * none starts there. */
static size_t wellformed(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    if (c < 0x80)
        return 1;
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        need = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        need = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
        need = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
        return 0;
    if (n < need || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return need;
}

/* What the consumer must see of raw[0..n): each ill-formed byte as U+FFFD. */
static void sanitise(const uint8_t *raw, size_t n, struct buf *out)
{
    buf_reset(out);
    for (size_t i = 0; i < n;) {
        size_t k = wellformed(raw + i, n - i);
        buf_append(out, k ? (const char *)raw + i : "\xEF\xBF\xBD", k ? k : 3);
        i += k ? k : 1;
    }
}

static bool same(const struct buf *a, const struct buf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0);
}

/* The earliest start of a stop string in text, or -1. */
static long first_stop(const struct str *stop, size_t n, struct str text)
{
    long best = -1;
    for (size_t i = 0; i < n; i++) {
        long at = stop[i].len ? str_find(text, stop[i]) : -1;
        if (at >= 0 && (best < 0 || at < best))
            best = at;
    }
    return best;
}

/* True when raw[from..n) is the start of a character cut short: a lead byte
 * followed by fewer continuation bytes than it announces. */
static bool unfinished(const uint8_t *raw, size_t from, size_t n)
{
    if (from == n)
        return true;
    uint8_t c = raw[from];
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (need == 1 || n - from >= need)
        return false;
    for (size_t i = from + 1; i < n; i++)
        if ((raw[i] & 0xC0) != 0x80)
            return false;
    return true;
}

static int wakes;
static void on_wake(void *arg)
{
    (void)arg;
    wakes++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t flags = fuzz_u8(&in);
    struct str stop[MAX_STOP];
    size_t n_stop = (size_t)(flags & 7) % (MAX_STOP + 1), longest = 0;
    for (size_t i = 0; i < n_stop; i++) {
        size_t len = fuzz_u8(&in) % 17;
        len = len < in.n ? len : in.n;
        stop[i] = (struct str){(const char *)in.p, len};
        in.p += len;
        in.n -= len;
        longest = len > longest ? len : longest;
    }
    struct llm_stream *s;
    wakes = 0;
    if (llm_stream_new(stop, n_stop, on_wake, NULL, &s) != LAIR_OK)
        return 0;

    struct buf fed, out, want;
    buf_init(&fed, 0);
    buf_init(&out, 0);
    buf_init(&want, 0);
    long stopped_at = -1;
    while (in.n) {
        size_t len = fuzz_u8(&in) % 9;
        len = len < in.n ? len : in.n;
        buf_append(&fed, in.p, len);
        bool hit = llm_stream_feed(s, (const char *)in.p, len);
        in.p += len;
        in.n -= len;
        if (stopped_at >= 0) {
            FUZZ_CHECK(hit, "a piece fed after a stop string was not refused");
            continue;
        }
        long at = first_stop(stop, n_stop, buf_str(&fed));
        FUZZ_CHECK(hit == (at >= 0), "feed says stop=%d, the text fed has one at %ld", hit, at);
        if (hit)
            stopped_at = at;
        if (flags & 0x40)
            continue; /* the consumer reads only at the end */
        struct llm_result res;
        FUZZ_CHECK(!llm_stream_take(s, &out, &res), "a stream not finished says it is done");
        FUZZ_CHECK(utf8_valid(out.ptr ? out.ptr : "", out.len), "delivered text is not UTF-8");
        if (hit)
            continue;
        /* Delivered: the sanitised text fed but for a held-back tail. */
        size_t hold = (longest ? longest - 1 : 0) + 3, k = fed.len;
        bool match = false;
        for (;; k--) {
            sanitise((const uint8_t *)fed.ptr, k, &want);
            if ((match = same(&want, &out)) || k == 0 || fed.len - k >= hold)
                break;
        }
        FUZZ_CHECK(match,
                   "after %zu bytes fed, %zu delivered are not the text fed less at most %zu "
                   "held back",
                   fed.len, out.len, hold);
    }

    if (flags & 0x80) { /* the consumer leaves first: the producer notices */
        llm_stream_cancel(s);
        FUZZ_CHECK(llm_stream_cancelled(s), "cancel not seen by the producer");
        FUZZ_CHECK(wakes == 1, "cancel woke the producer %d times", wakes);
        if (flags & 0x20) {
            llm_stream_free(s);
            llm_stream_finish(s, &(struct llm_result){.finish = LLM_FINISH_CANCELLED});
            goto out;
        }
    }
    struct llm_result res = {.finish = stopped_at >= 0 ? LLM_FINISH_STOP : LLM_FINISH_LENGTH,
                             .completion_tokens = (int)fed.len};
    llm_stream_finish(s, &res);
    struct llm_result got = {0};
    FUZZ_CHECK(llm_stream_take(s, &out, &got), "a finished stream is not done");
    FUZZ_CHECK(got.finish == res.finish && got.completion_tokens == res.completion_tokens,
               "the result was not passed on");
    FUZZ_CHECK(llm_stream_take(s, &out, NULL), "a finished stream is not done twice");
    if (stopped_at >= 0) {
        sanitise((const uint8_t *)fed.ptr, (size_t)stopped_at, &want);
        FUZZ_CHECK(same(&want, &out), "stopped at %ld: delivered %zu bytes, want %zu", stopped_at,
                   out.len, want.len);
    } else {
        /* All of it but a last character cut short. */
        size_t k = fed.len;
        bool match = false;
        for (; !match && k + 4 > fed.len; k--) {
            sanitise((const uint8_t *)fed.ptr, k, &want);
            match = same(&want, &out) && unfinished((const uint8_t *)fed.ptr, k, fed.len);
            if (k == 0)
                break;
        }
        FUZZ_CHECK(match, "finished: %zu bytes delivered of %zu fed", out.len, fed.len);
    }
    llm_stream_free(s);
out:
    buf_release(&fed);
    buf_release(&out);
    buf_release(&want);
    return 0;
}
