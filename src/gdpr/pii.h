/* Personal-data (PII) detection and masking for French and European
 * identifiers.
 *
 * The scanner reads UTF-8 text once, left to right, without a regex library
 * and without allocating. Each identifier is accepted only when its checksum
 * or structure holds, so that a random number is seldom flagged: NIR key,
 * IBAN mod 97 and country length, French RIB key, SIREN/SIRET Luhn (with La
 * Poste's exception), VAT key, card Luhn and issuer prefix, phone prefixes,
 * plate letter rules, calendar dates. Where a checksum is weak, masking wins
 * when in doubt: a 14-digit number in one piece that passes both SIRET
 * checks (one random number in a hundred) is a SIRET unless the words
 * before it say otherwise. docs/internals/pii.md lists the rules and the
 * measured precision and recall.
 *
 * Matches come out sorted by offset and never overlap. Offsets and lengths are
 * in bytes and always fall on UTF-8 character boundaries. */
#ifndef LAIR_GDPR_PII_H
#define LAIR_GDPR_PII_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/str.h"

/* Values are stable (they may be stored); append new types at the end. */
enum pii_type {
    PII_NIR,       /* French social security number, 15 characters with key */
    PII_IBAN,      /* any country, mod 97 and the registry length */
    PII_RIB,       /* French bank details without IBAN: bank branch account key */
    PII_SIREN,     /* French company number, 9 digits */
    PII_SIRET,     /* French establishment number, 14 digits */
    PII_VAT,       /* French intra-EU VAT number FRkk + SIREN */
    PII_CARD,      /* payment card number */
    PII_PHONE,     /* French phone number, or any +CC international number */
    PII_EMAIL,     /* e-mail address */
    PII_PLATE,     /* French licence plate, SIV or old FNI */
    PII_BIRTHDATE, /* a date introduced as a date of birth */
    PII_TYPE_COUNT
};

struct pii_match {
    enum pii_type type;
    size_t off, len; /* bytes in the scanned text */
};

/* Stable lowercase name ("nir", "iban", …); "unknown" out of range. */
const char *pii_type_name(enum pii_type t);
/* The type whose name is s; LAIR_EINVAL when there is none. */
enum lair_err pii_type_parse(struct str s, enum pii_type *out);

/* Iteration over the matches of one text. The scanner borrows text: it must
 * outlive the scanner. */
struct pii_scanner {
    struct str text;
    size_t pos;     /* where scanning resumes */
    size_t next_at; /* internal: offset of the next '@' (SIZE_MAX: not looked for) */
};

void pii_scanner_init(struct pii_scanner *sc, struct str text);
/* OUT: *m, the next match. False when the text has no more. */
bool pii_next(struct pii_scanner *sc, struct pii_match *m);

/* Fills out with at most max matches and returns how many the text holds,
 * which may be more than max (as snprintf does). out may be NULL when max is
 * 0. */
size_t pii_scan(struct str text, struct pii_match *out, size_t max);

/* Appends text to out with every match replaced by "[TYPE]" ("[NIR]",
 * "[IBAN]", "[PHONE]"…). This is what logs must use. On error out holds a
 * prefix of the result; it never holds an unmasked match. */
enum lair_err pii_mask(struct str text, struct buf *out);
/* The same into a fixed buffer, without allocating (for log lines): writes
 * at most cap - 1 bytes and a NUL, and returns the length written. A text
 * that does not fit is cut; a match is never copied, whole or in part. */
size_t pii_mask_to(struct str text, char *out, size_t cap);

/* Appends text to out with every match replaced by whatever fn appends for it.
 * value is the matched bytes (BORROWED from text). A non-zero return from fn
 * stops the copy and is returned. */
enum lair_err pii_replace(struct str text, struct buf *out,
                          enum lair_err (*fn)(void *ctx, enum pii_type type, struct str value,
                                              struct buf *out),
                          void *ctx);

/* Appends the canonical form of a matched value to out, the same however it
 * was typed: separators dropped and letters upper-cased for numbers and
 * plates; French phones as 0XXXXXXXXX whether typed "+33 (0)6…", "0033 6…"
 * or "06.…", other international ones as +CC… without "(0)"; e-mails
 * lower-cased; dates of birth as YYYY-MM-DD (a two-digit year is taken in
 * this century unless that would be in the future). LAIR_EINVAL when a
 * phone number or a date cannot be read from value (not a match). */
enum lair_err pii_canonical(enum pii_type type, struct str value, struct buf *out);

/* ---- policy ----------------------------------------------------------------
 * What an assistant stores of a message ("pii" in its definition). Logs are
 * always masked, whatever the policy. The values are those of enum pii_mode
 * in assist/assistant.h (the parsed assistant), in the same order; the names
 * differ so that both headers can be included together (gdpr/policy.c
 * checks that they agree). */
enum pii_policy {
    PII_POLICY_KEEP,        /* "keep": stored as typed */
    PII_POLICY_MASK,        /* "mask": each value replaced by [TYPE] */
    PII_POLICY_PSEUDONYMISE /* "pseudonymise": each value replaced by [TYPE_n] */
};

const char *pii_policy_name(enum pii_policy p);
/* "keep" | "mask" | "pseudonymise" (also "pseudonymize"); LAIR_EINVAL else. */
enum lair_err pii_policy_parse(struct str s, enum pii_policy *out);

/* Stable placeholders for one scope (a conversation): the same value, however
 * it is typed, gets the same "[PHONE_1]"; distinct values of a type are
 * numbered from 1 in order of appearance. The table lives in memory; keeping
 * it across requests is the caller's business (entries are readable). */
struct pii_pseudonym {
    enum pii_type type;
    unsigned n;      /* the number in [TYPE_n] */
    size_t off, len; /* canonical value in pii_pseudonyms.values */
};

struct pii_pseudonyms {
    struct pii_pseudonym *items; /* OWNED */
    size_t count, cap, max;      /* max entries before LAIR_ELIMIT */
    struct buf values;           /* canonical values, back to back */
    unsigned next[PII_TYPE_COUNT];
};

/* max 0 means 4096 distinct values. Release with pii_pseudonyms_release. */
void pii_pseudonyms_init(struct pii_pseudonyms *ps, size_t max);
void pii_pseudonyms_release(struct pii_pseudonyms *ps);
/* The canonical value of an entry (BORROWED from ps). */
struct str pii_pseudonym_value(const struct pii_pseudonyms *ps, const struct pii_pseudonym *e);
/* Adds an entry known from elsewhere (a stored mapping): canonical value
 * value of type gets number n; later new values of that type are numbered
 * after the largest n seen. LAIR_EINVAL for a bad type or n == 0,
 * LAIR_ELIMIT when the table is full. */
enum lair_err pii_pseudonyms_add(struct pii_pseudonyms *ps, enum pii_type type, struct str value,
                                 unsigned n);
/* A pii_replace callback (ctx is a struct pii_pseudonyms *): appends
 * "[TYPE_n]", adding the value to the table when it is new. */
enum lair_err pii_pseudonymise_cb(void *ctx, enum pii_type type, struct str value, struct buf *out);

/* Appends text to out as the policy says. ps is needed for
 * PII_POLICY_PSEUDONYMISE only (LAIR_EINVAL when NULL). */
enum lair_err pii_apply(enum pii_policy p, struct str text, struct buf *out,
                        struct pii_pseudonyms *ps);

#endif
