/* Placeholders for the personal data of a prompt bound for a `remote`
 * upstream, and their restoration in the answer (DESIGN.md, "Upstreams").
 *
 * One vault per request. placeholder_mask runs the PII detector (gdpr/pii.h)
 * over each text of the prompt (instructions, retrieved sources, history,
 * question) and replaces every value it finds by a placeholder that names
 * its kind: "[TEL_1]", "[IBAN_2]", "[EMAIL_1]". The same value, however it is
 * typed, gets the same placeholder in every text masked with one vault;
 * different values get different ones. Text that already reads as a
 * placeholder is itself replaced by a "[TEXTE_n]" of its own, so every
 * placeholder the upstream sees was issued by this vault.
 * placeholder_unmask, or the stream functions as chunks arrive, put the
 * values back: only a whole placeholder issued by this vault is replaced
 * (by the value as first typed); anything else, a mangled placeholder
 * ("[tel_1]", "[TEL_1") or one the vault did not issue, is copied as it is.
 *
 * Values live only in the vault's memory, for the request's life, and are
 * wiped (sodium_memzero) when it is freed; nothing here logs. The form, the
 * streaming rule and the threat model are in docs/internals/placeholder.md. */
#ifndef LAIR_GDPR_PLACEHOLDER_H
#define LAIR_GDPR_PLACEHOLDER_H

#include <stddef.h>

#include "core/err.h"
#include "core/str.h"

/* Bytes of the longest placeholder, "[NAISSANCE_9999]". A stream holds back
 * less than this. */
#define PLACEHOLDER_MAX_LEN 16

struct placeholder_vault;

/* OWNED (free with placeholder_vault_free); NULL when out of memory. max is
 * the most bytes of values and entries the vault may hold (0 means 1 MiB);
 * each kind is also numbered up to 9999 at most. */
struct placeholder_vault *placeholder_vault_new(size_t max);
/* Wipes every value held and frees the vault. NULL does nothing. */
void placeholder_vault_free(struct placeholder_vault *v);
/* How many distinct values (and placeholder-like texts) v holds. */
size_t placeholder_count(const struct placeholder_vault *v);

/* Appends text to out with each value the detector finds replaced by its
 * placeholder, adding new values to v, and each piece of text that reads as
 * a placeholder replaced by a "[TEXTE_n]". Mask every text of a request with
 * the same vault. Errors: LAIR_ELIMIT when v is full, LAIR_ENOMEM,
 * LAIR_ETOOBIG when out is. On error out holds a prefix of the result,
 * never a value unmasked, and v stays usable. */
enum lair_err placeholder_mask(struct placeholder_vault *v, struct str text, struct buf *out);

/* Appends text (a whole answer) to out with each placeholder issued by v
 * replaced by its value. Errors: those of buf_append (out then holds a
 * prefix). */
enum lair_err placeholder_unmask(const struct placeholder_vault *v, struct str text,
                                 struct buf *out);

/* Restoration of an answer that arrives in chunks. Each feed appends what
 * can be shown of the chunk, restored, and holds back a tail that could be
 * the start of a placeholder ("[TE", "[TEL_1") or of a UTF-8 character cut
 * by the chunk boundary, until later bytes decide: a placeholder is never
 * shown in part, a held tail that is not one is released unchanged. The
 * state is fixed-size: memory does not grow with the answer. */
struct placeholder_stream {
    const struct placeholder_vault *vault; /* BORROWED: outlives the stream */
    char held[PLACEHOLDER_MAX_LEN];        /* the undecided tail */
    size_t held_len;
};

void placeholder_stream_init(struct placeholder_stream *st, const struct placeholder_vault *v);
/* Appends the restored text of chunk to out, minus what is held back. After
 * an error (those of buf_append) drop the stream. */
enum lair_err placeholder_stream_feed(struct placeholder_stream *st, struct str chunk,
                                      struct buf *out);
/* The answer is complete: appends the held tail as it is and empties st. */
enum lair_err placeholder_stream_finish(struct placeholder_stream *st, struct buf *out);

#endif
