/* Equivalent expressions of French administrative language ("carte grise" ↔
 * "certificat d'immatriculation"), applied at query time: a question that
 * holds one expression of a group is also searched with the group's others,
 * weighted below the question's own words (src/rag/fts.h:
 * fts_query_build_syn). The project ships a default vocabulary, written for
 * it (synonyms.c); a tenant replaces it per knowledge base through the API
 * (docs/knowledge-bases.md), stored as JSON in the tenant database
 * (src/store/kb.h: kb_synonyms_get). The JSON form is an array of groups,
 * each an array of expressions:
 *     [["carte grise", "certificat d'immatriculation"], ["mairie", "hôtel de ville"]] */
#ifndef LAIR_RAG_SYNONYMS_H
#define LAIR_RAG_SYNONYMS_H

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"
#include "rag/analyzer.h"

/* Limits of a vocabulary (validated by syn_set_from_json). */
#define SYN_GROUPS_MAX 1000
#define SYN_MEMBERS_MAX 16
#define SYN_EXPR_MAX 120 /* bytes of one expression */
#define SYN_EXPR_WORDS_MAX 8
/* Weight of a synonym phrase against a question word (chosen on the dev
 * questions, bench/rag/README.md) and the most synonym phrases one
 * question adds. */
#define SYN_WEIGHT 0.8
#define SYN_QUERY_PHRASES_MAX 16

/* A compiled vocabulary: every expression with its analyzed words. */
struct syn_expr {
    char *text;     /* as written, NUL-terminated */
    char **terms;   /* its words as a question's are analyzed */
    size_t n_terms; /* 1..SYN_EXPR_WORDS_MAX */
};
struct syn_set {
    size_t n_groups;
    size_t *first; /* [n_groups + 1]: group g is exprs[first[g] .. first[g + 1]) */
    struct syn_expr *exprs;
    size_t n_exprs;
};

/* Validates the JSON form v and compiles it with analyzer a. OUT: *out,
 * OWNED (free with syn_set_free). LAIR_EINVAL when v is not a valid
 * vocabulary: `where` gets the JSON path of the fault ("synonyms[3][1]")
 * and `why` an English sentence saying what is wrong (both truncated to
 * their sizes). Rules: an array of at most SYN_GROUPS_MAX groups; a group
 * is an array of 2..SYN_MEMBERS_MAX expressions that the analyzer does not
 * search alike ("mairie" and "Mairies" are one); an expression has
 * 1..SYN_EXPR_MAX bytes, no control character, and 1..SYN_EXPR_WORDS_MAX
 * searchable words (not only stop words or question words). LAIR_ENOMEM. */
enum lair_err syn_set_from_json(const json_t *v, struct analyzer *a, struct syn_set **out,
                                char *where, size_t where_len, char *why, size_t why_len);
void syn_set_free(struct syn_set *s);

/* The project's default vocabulary, compiled once. BORROWED: lives until
 * the process ends; NULL only when out of memory. */
const struct syn_set *syn_default(void);

/* The default vocabulary in its JSON form. OWNED: json_decref. */
json_t *syn_default_json(void);

#endif
