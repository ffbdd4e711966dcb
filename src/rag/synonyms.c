/* The administrative vocabulary of equivalences and its compilation. See
 * synonyms.h. */
#include "rag/synonyms.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

/* The default vocabulary, written for the project: the words a citizen
 * uses on the left, the administration's on the right. Only expressions
 * that mean the same thing in a service-public context; a word with two
 * common meanings ("permis": to drive or to build) is left out, since a
 * wrong equivalence costs more than a missing one. One group per string,
 * expressions separated by '|'. */
static const char *const default_groups[] = {
    "carte grise|certificat d'immatriculation",
    "papiers|pièces justificatives|pièces à fournir|justificatifs",
    "mairie|hôtel de ville",
    "carte d'identité|carte nationale d'identité|CNI",
    "RSA|revenu de solidarité active",
    "APL|aide personnalisée au logement",
    "CAF|caisse d'allocations familiales",
    "allocs|allocations familiales",
    "sécu|sécurité sociale|assurance maladie",
    "chômage|allocation chômage|aide au retour à l'emploi",
    "déménagement|changement d'adresse",
    "pacs|pacte civil de solidarité",
    "acte de naissance|extrait d'acte de naissance",
    "fisc|administration fiscale|impôts",
    "cantine|restauration scolaire",
    "crèche|établissement d'accueil du jeune enfant",
    "poubelles|ordures ménagères|déchets ménagers",
    "déchetterie|déchèterie",
    "retraite|pension de retraite|pension de vieillesse",
    "arrêt maladie|arrêt de travail",
    "impayés de loyer|loyers impayés",
    "propriétaire|bailleur",
    "MDPH|maison départementale des personnes handicapées",
    "AAH|allocation aux adultes handicapés",
    "TVA|taxe sur la valeur ajoutée",
    "auto-entrepreneur|micro-entrepreneur",
    "SMIC|salaire minimum",
    "vignette Crit'Air|certificat qualité de l'air",
    "PV|procès-verbal",
    "amende|contravention",
    "garde alternée|résidence alternée",
    "pension alimentaire|contribution à l'entretien et à l'éducation de l'enfant",
    "RIB|relevé d'identité bancaire",
    "mutuelle|complémentaire santé",
    "logement social|HLM|habitation à loyer modéré",
    "inscription scolaire|inscription à l'école",
    "JDC|journée défense et citoyenneté",
    "carte d'électeur|carte électorale",
    "titre de séjour|carte de séjour",
    "parking|stationnement",
    "voiture|véhicule",
    "médecin de famille|médecin traitant",
};
#define N_DEFAULT (sizeof(default_groups) / sizeof(default_groups[0]))

void syn_set_free(struct syn_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_exprs; i++) {
        for (size_t j = 0; j < s->exprs[i].n_terms; j++)
            free(s->exprs[i].terms[j]);
        free(s->exprs[i].terms);
        free(s->exprs[i].text);
    }
    free(s->exprs);
    free(s->first);
    free(s);
}

/* Analyzes text into e (its words as a question's are analyzed: stop words
 * and question words dropped, alternatives ignored). Returns the number of
 * words, SIZE_MAX when out of memory, SYN_EXPR_WORDS_MAX + 1 when too many. */
static size_t compile_expr(struct analyzer *a, const char *text, size_t len, struct syn_expr *e)
{
    *e = (struct syn_expr){0};
    e->text = malloc(len + 1);
    e->terms = calloc(SYN_EXPR_WORDS_MAX, sizeof(*e->terms));
    if (!e->text || !e->terms)
        return SIZE_MAX;
    memcpy(e->text, text, len);
    e->text[len] = 0;
    struct analyzer_term t;
    analyzer_start(a, (struct str){e->text, len}, ANALYZER_QUESTION);
    while (analyzer_next(a, &t)) {
        if (t.colocated)
            continue;
        if (e->n_terms == SYN_EXPR_WORDS_MAX)
            return SYN_EXPR_WORDS_MAX + 1;
        if (!(e->terms[e->n_terms] = malloc(t.len + 1)))
            return SIZE_MAX;
        memcpy(e->terms[e->n_terms], t.ptr, t.len);
        e->terms[e->n_terms++][t.len] = 0;
    }
    return e->n_terms;
}

static bool has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return true;
    return false;
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(why, why_len, __VA_ARGS__);                                                       \
        e = LAIR_EINVAL;                                                                           \
        goto out;                                                                                  \
    } while (0)

enum lair_err syn_set_from_json(const json_t *v, struct analyzer *a, struct syn_set **out,
                                char *where, size_t where_len, char *why, size_t why_len)
{
    *out = NULL;
    snprintf(where, where_len, "synonyms");
    snprintf(why, why_len, "invalid");
    enum lair_err e = LAIR_OK;
    struct syn_set *s = calloc(1, sizeof(*s));
    if (!s)
        return LAIR_ENOMEM;
    if (!json_is_array(v))
        FAIL("'synonyms' must be an array of groups, each an array of equivalent expressions");
    size_t ng = json_array_size(v), total = 0;
    if (ng > SYN_GROUPS_MAX)
        FAIL("at most %d groups", SYN_GROUPS_MAX);
    for (size_t g = 0; g < ng; g++)
        total += json_is_array(json_array_get(v, g)) ? json_array_size(json_array_get(v, g)) : 0;
    s->first = calloc(ng + 1, sizeof(*s->first));
    s->exprs = calloc(total ? total : 1, sizeof(*s->exprs));
    if (!s->first || !s->exprs) {
        e = LAIR_ENOMEM;
        goto out;
    }
    for (size_t g = 0; g < ng; g++) {
        const json_t *grp = json_array_get(v, g);
        snprintf(where, where_len, "synonyms[%zu]", g);
        if (!json_is_array(grp) || json_array_size(grp) < 2 ||
            json_array_size(grp) > SYN_MEMBERS_MAX)
            FAIL("a group must be an array of 2 to %d expressions", SYN_MEMBERS_MAX);
        s->first[g] = s->n_exprs;
        for (size_t m = 0; m < json_array_size(grp); m++) {
            const json_t *x = json_array_get(grp, m);
            snprintf(where, where_len, "synonyms[%zu][%zu]", g, m);
            if (!json_is_string(x))
                FAIL("an expression must be a string");
            const char *t = json_string_value(x);
            size_t n = json_string_length(x);
            if (n == 0 || n > SYN_EXPR_MAX || has_control(t, n))
                FAIL("an expression must have 1 to %d bytes and no control character",
                     SYN_EXPR_MAX);
            struct syn_expr *ex = &s->exprs[s->n_exprs++];
            size_t words = compile_expr(a, t, n, ex);
            if (words == SIZE_MAX) {
                e = LAIR_ENOMEM;
                goto out;
            }
            if (words == 0)
                FAIL("'%s' has no searchable word (only stop words or question words)", t);
            if (words > SYN_EXPR_WORDS_MAX)
                FAIL("'%s' has more than %d words", t, SYN_EXPR_WORDS_MAX);
            for (size_t p = s->first[g]; p + 1 < s->n_exprs; p++) {
                bool same = s->exprs[p].n_terms == ex->n_terms;
                for (size_t w = 0; same && w < ex->n_terms; w++)
                    same = !strcmp(s->exprs[p].terms[w], ex->terms[w]);
                if (same)
                    FAIL("'%s' is searched like '%s' of the same group", t, s->exprs[p].text);
            }
        }
        s->n_groups = g + 1;
        s->first[g + 1] = s->n_exprs;
    }
    snprintf(where, where_len, "synonyms");
out:
    if (e) {
        syn_set_free(s);
        return e;
    }
    *out = s;
    return LAIR_OK;
}

json_t *syn_default_json(void)
{
    json_t *all = json_array();
    for (size_t g = 0; all && g < N_DEFAULT; g++) {
        json_t *grp = json_array();
        const char *p = default_groups[g];
        while (grp && *p) {
            const char *bar = strchr(p, '|');
            size_t n = bar ? (size_t)(bar - p) : strlen(p);
            json_array_append_new(grp, json_stringn(p, n));
            p += n + (bar != NULL);
        }
        if (!grp || json_array_append_new(all, grp)) {
            json_decref(all);
            return NULL;
        }
    }
    return all;
}

static struct syn_set *defaults;
static pthread_once_t defaults_once = PTHREAD_ONCE_INIT;

static void defaults_init(void)
{
    struct analyzer *a;
    json_t *v = syn_default_json();
    char where[64], why[200];
    if (v && analyzer_new(&a) == LAIR_OK) {
        if (syn_set_from_json(v, a, &defaults, where, sizeof(where), why, sizeof(why)))
            defaults = NULL;
        analyzer_free(a);
    }
    json_decref(v);
}

const struct syn_set *syn_default(void)
{
    pthread_once(&defaults_once, defaults_init);
    return defaults;
}
