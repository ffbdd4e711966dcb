/* What every fuzz target shares: the libFuzzer entry points, a check that
 * stops the run with a message (libFuzzer then saves the input), and a
 * reader that takes option bytes from the front of an input.
 *
 * A target is one file, tests/fuzz/fuzz_<name>.c, that defines
 * LLVMFuzzerTestOneInput (and LLVMFuzzerInitialize when it has set-up to do).
 * Built with clang and -fsanitize=fuzzer it is a libFuzzer binary
 * (make fuzz); built with any compiler beside replay.c it is a program that
 * runs every file of its corpus and regression folders once (ctest
 * fuzz/<name>). docs/fuzzing.md explains both. */
#ifndef LAIR_FUZZ_H
#define LAIR_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property of the code under test that the input broke: print what and
 * where, then abort so that libFuzzer (or ctest) reports the input. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Faults that are reported but not fixed yet can be let through while
 * fuzzing for others: LAIR_FUZZ_KNOWN holds their names, separated by
 * commas or spaces (docs/fuzzing.md lists them). Replays (ctest) never set
 * it, so every regression input still fails until its fix lands. */
static inline bool fuzz_known(const char *name)
{
    const char *k = getenv("LAIR_FUZZ_KNOWN");
    return k && strstr(k, name);
}

/* Option bytes taken from the front of an input; past its end they read as
 * zero, so that every input is valid. */
struct fuzz_in {
    const uint8_t *p;
    size_t n;
};

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
    uint16_t hi = fuzz_u8(in);
    return (uint16_t)(hi << 8 | fuzz_u8(in));
}

/* The bytes up to the first sep (excluded; sep skipped), or all that is left. */
static inline struct fuzz_in fuzz_until(struct fuzz_in *in, uint8_t sep)
{
    struct fuzz_in out = {in->p, 0};
    while (out.n < in->n && in->p[out.n] != sep)
        out.n++;
    size_t skip = out.n < in->n ? out.n + 1 : out.n;
    in->p += skip;
    in->n -= skip;
    return out;
}

#endif
