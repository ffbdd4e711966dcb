/* The assistant generator: knowledge bases in, a draft assistant and its
 * evaluation suite out (generate.h). The documents' titles and heading paths
 * come from the store (kb_documents_list, kb_document_headings); everything
 * else is string work, deterministic so that the same bases give the same
 * draft. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assist/generate.h"
#include "store/kb.h"
#include "eval/suite.h"
#include "core/banned.h"

#define MAX_DOCS 400
#define MAX_TOPICS 24 /* per document */
#define TOPIC_MAX 200 /* bytes */

struct doc {
    char *name, *title, *kb;
    int64_t id;
    char *topics[MAX_TOPICS];
    size_t n_topics;
};

struct docs {
    struct doc *v;
    size_t n;
    const char *kb; /* the base being listed */
    bool oom;
};

/* ---- text helpers ---- */

/* The longest prefix of s[0..n) of at most cap bytes that ends on a UTF-8
 * character boundary. */
static size_t utf8_cut(const char *s, size_t n, size_t cap)
{
    if (n <= cap)
        return n;
    while (cap > 0 && ((unsigned char)s[cap] & 0xC0) == 0x80)
        cap--;
    return cap;
}

static void copy_cut(char *out, size_t cap, const char *s, size_t n)
{
    n = utf8_cut(s, n, cap - 1);
    memcpy(out, s, n);
    out[n] = 0;
}

/* Lower case of an upper-case Latin-1 letter encoded c3 b (À..Þ), else b. */
static unsigned char latin1_lower(unsigned char b)
{
    return (b >= 0x80 && b <= 0x9E && b != 0x97) ? (unsigned char)(b + 0x20) : b;
}

/* The topic a heading path stands for: its last part ("A > B" → "B"),
 * without numbering ("1.2 ", "III. ", "a) "), trailing colons or spaces. */
static void topic_of(const char *path, char out[TOPIC_MAX + 1])
{
    const char *s = path, *p;
    while ((p = strstr(s, " > ")))
        s = p + 3;
    while (*s == ' ' || *s == '#' || *s == '-' || *s == '*')
        s++;
    const char *q = s;
    while ((*q >= '0' && *q <= '9') || *q == '.' || *q == ')')
        q++;
    if (q > s && *q == ' ')
        s = q + 1;
    else if ((s[0] == 'I' || s[0] == 'V' || s[0] == 'X') && (p = strpbrk(s, ".)")) && p[1] == ' ' &&
             strspn(s, "IVX") == (size_t)(p - s))
        s = p + 2;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == ':' || s[n - 1] == '.' || s[n - 1] == '\t'))
        n--;
    copy_cut(out, TOPIC_MAX + 1, s, n);
}

/* The first word of t, lower-cased (ASCII and Latin-1 capitals), into w. */
static void first_word(const char *t, char *w, size_t cap)
{
    size_t i = 0, j = 0;
    while (t[i] && t[i] != ' ' && t[i] != '\'' && t[i] != ',' && j + 2 < cap) {
        unsigned char c = (unsigned char)t[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        if (c == 0xC3 && t[i + 1]) {
            w[j++] = (char)c;
            w[j++] = (char)latin1_lower((unsigned char)t[++i]);
            i++;
            continue;
        }
        w[j++] = (char)c;
        i++;
    }
    if (t[i] == '\'' && j + 2 < cap)
        w[j++] = '\'';
    w[j] = 0;
}

static bool in_list(const char *w, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(w, *list))
            return true;
    return false;
}

static const char *const VERBS[] = {
    "obtenir",     "demander",    "faire",          "déclarer",    "inscrire",    "renouveler",
    "payer",       "réserver",    "signaler",       "contacter",   "prendre",     "trouver",
    "déposer",     "modifier",    "changer",        "résilier",    "créer",       "ouvrir",
    "recevoir",    "consulter",   "contester",      "louer",       "construire",  "jeter",
    "trier",       "recycler",    "accéder",        "remplir",     "envoyer",     "récupérer",
    "retirer",     "effectuer",   "enregistrer",    "reconnaître", "adopter",     "choisir",
    "calculer",    "bénéficier",  "solliciter",     "postuler",    "saisir",      "justifier",
    "prouver",     "établir",     "rectifier",      "annuler",     "remplacer",   "télécharger",
    "stationner",  "voter",       "acheter",        "vendre",      "déménager",   "scolariser",
    "préparer",    "organiser",   "utiliser",       "se",          "s'",          "éliminer",
    "composter",   "valoriser",   "prolonger",      "suivre",      "transmettre", "vérifier",
    "préinscrire", "aménager",    "agrandir",       "rénover",     "démolir",     "diviser",
    "installer",   "planter",     "embaucher",      "recruter",    "former",      "évaluer",
    "gérer",       "accompagner", "télétravailler", "partir",      NULL};
static const char *const PLACES[] = {"adresse",      "adresses",     "lieu",       "lieux",
                                     "accès",        "bureau",       "bureaux",    "guichet",
                                     "guichets",     "déchetterie",  "déchèterie", "déchetteries",
                                     "permanence",   "permanences",  "points",     "point",
                                     "implantation", "localisation", NULL};
static const char *const PLURALS[] = {
    "horaires", "tarifs",   "délais",    "conditions", "documents", "pièces",   "justificatifs",
    "frais",    "droits",   "démarches", "modalités",  "règles",    "critères", "étapes",
    "coûts",    "montants", "congés",    "jours",      "dates",     NULL};

/* t with its first letter lower-cased, unless it starts an acronym ("CNI"). */
static void lc_first(const char *t, char *out, size_t cap)
{
    copy_cut(out, cap, t, strlen(t));
    unsigned char c0 = (unsigned char)out[0], c1 = (unsigned char)out[1];
    if (c0 >= 'A' && c0 <= 'Z' && !(c1 >= 'A' && c1 <= 'Z'))
        out[0] = (char)(c0 + 32);
    else if (c0 == 0xC3 && c1 >= 0x80 && c1 <= 0x9E &&
             !((unsigned char)out[2] >= 'A' && (unsigned char)out[2] <= 'Z'))
        out[1] = (char)latin1_lower(c1);
}

void gen_question(const char *topic, char *out, size_t cap)
{
    char t[TOPIC_MAX + 1], lc[TOPIC_MAX + 1], w[64];
    copy_cut(t, sizeof(t), topic, strlen(topic));
    out[0] = 0;
    if (!t[0])
        return;
    size_t n = strlen(t);
    if (t[n - 1] == '?') {
        copy_cut(out, cap, t, n);
        return;
    }
    lc_first(t, lc, sizeof(lc));
    first_word(t, w, sizeof(w));
    char q[GEN_QUESTION_MAX + 64];
    if (!strcmp(w, "comment") || !strcmp(w, "où") || !strcmp(w, "quand") ||
        !strcmp(w, "pourquoi") || !strcmp(w, "qui") || !strcmp(w, "quel") || !strcmp(w, "quelle") ||
        !strcmp(w, "quels") || !strcmp(w, "quelles"))
        snprintf(q, sizeof(q), "%s ?", t);
    else if (in_list(w, VERBS))
        snprintf(q, sizeof(q), "Comment %s ?", lc);
    else if (in_list(w, PLACES))
        snprintf(q, sizeof(q), "Où trouver « %s » ?", t);
    else if (in_list(w, PLURALS))
        snprintf(q, sizeof(q), "Quels sont les %s ?", lc);
    else
        snprintf(q, sizeof(q), "Que faut-il savoir sur « %s » ?", t);
    copy_cut(out, cap, q, strlen(q));
}

/* Latin-1 letters (the byte after 0xC3) folded to ASCII; 0 for none. */
static char fold_c3(unsigned char b)
{
    static const char map[] = "aaaaaaaceeeeiiiidnooooo/ouuuuyty"; /* 0x80.. / 0xA0.. */
    b = latin1_lower(b);
    return b >= 0xA0 && b <= 0xBF && b != 0xB7 ? map[b - 0xA0] : 0;
}

void gen_slug(const char *name, char out[64])
{
    size_t j = 0;
    bool dash = false;
    for (const unsigned char *p = (const unsigned char *)name; *p && j < 63; p++) {
        char c = 0;
        if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
            c = (char)*p;
        else if (*p >= 'A' && *p <= 'Z')
            c = (char)(*p + 32);
        else if (*p == 0xC3 && p[1])
            c = fold_c3(*++p);
        else if (*p == 0xC5 && (p[1] == 0x93 || p[1] == 0x92)) { /* œ Œ */
            p++;
            if (j + 2 < 63) {
                if (dash && j)
                    out[j++] = '-';
                dash = false;
                out[j++] = 'o';
                out[j++] = 'e';
            }
            continue;
        }
        if (!c) {
            dash = true;
            continue;
        }
        if (dash && j && j < 62)
            out[j++] = '-';
        dash = false;
        out[j++] = c;
    }
    while (j > 0 && out[j - 1] == '-')
        j--;
    out[j] = 0;
    if (!j)
        memcpy(out, "assistant", 10);
}

/* ---- reading the bases ---- */

static char *dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void doc_one(void *arg, const struct kb_document *d)
{
    struct docs *ds = arg;
    if (ds->n >= MAX_DOCS || ds->oom)
        return;
    struct doc *x = &ds->v[ds->n];
    memset(x, 0, sizeof(*x));
    x->name = dup(d->name);
    x->title = d->title && d->title[0] ? dup(d->title) : NULL;
    x->kb = dup(ds->kb);
    x->id = d->id;
    if (!x->name || !x->kb || (d->title && d->title[0] && !x->title)) {
        free(x->name);
        free(x->title);
        free(x->kb);
        ds->oom = true;
        return;
    }
    ds->n++;
}

static bool has_topic(const struct doc *d, const char *t)
{
    for (size_t i = 0; i < d->n_topics; i++)
        if (!strcmp(d->topics[i], t))
            return true;
    return false;
}

static void add_topic(struct doc *d, const char *t)
{
    if (!t[0] || d->n_topics >= MAX_TOPICS || has_topic(d, t))
        return;
    char *c = strdup(t);
    if (c)
        d->topics[d->n_topics++] = c;
}

static void heading_one(void *arg, const char *path)
{
    char t[TOPIC_MAX + 1];
    topic_of(path, t);
    add_topic(arg, t);
}

/* True when a file name says something: a run of 5 letters or more, or two
 * runs of 3 or more ("naissance", "plan-velo"; not "F1234", "scan0001"). */
static bool name_has_words(const char *name)
{
    size_t run = 0, short_runs = 0;
    for (const unsigned char *p = (const unsigned char *)name;; p++) {
        bool letter = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p >= 0x80;
        if (letter && *p != '.') {
            run++;
            continue;
        }
        if (run >= 5 || (run >= 3 && ++short_runs >= 2))
            return true;
        run = 0;
        if (!*p || *p == '.')
            return false;
    }
}

#define OPENING_TITLE_BYTES 100
#define OPENING_WORDS 12
#define OPENING_LINES 4

/* Words of 3 letters or more in s[0..n). */
static size_t long_words(const char *s, size_t n)
{
    size_t words = 0, run = 0;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = i < n ? (unsigned char)s[i] : ' ';
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80) {
            run++;
            continue;
        }
        words += run >= 3;
        run = 0;
    }
    return words;
}

/* The first sentence of text[0..line), cut after OPENING_WORDS words (at a
 * comma or colon past half of them when there is one) with "…". */
static void sentence_topic(const char *text, size_t line, char out[TOPIC_MAX + 1])
{
    size_t words = 0, clause = 0, cut = 0, i = 0;
    for (; i < line; i++) {
        char c = text[i];
        bool space = c == ' ' || c == '\t';
        if (!space && (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\t'))
            words++;
        if (words >= OPENING_WORDS && space) {
            cut = clause ? clause : i;
            break;
        }
        if ((c == ',' || c == ';' || c == ':') && words * 2 >= OPENING_WORDS)
            clause = i;
        if ((c == '.' || c == '!' || c == '?') && (i + 1 == line || text[i + 1] == ' ')) {
            i++;
            break;
        }
    }
    size_t n = cut ? cut : i;
    while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == ',' || text[n - 1] == ';'))
        n--;
    if (n > 0 && text[n - 1] == '.')
        n--;
    char tmp[TOPIC_MAX + 8];
    size_t k = utf8_cut(text, n, TOPIC_MAX - 4);
    memcpy(tmp, text, k);
    snprintf(tmp + k, sizeof(tmp) - k, "%s", cut || k < n ? "…" : "");
    copy_cut(out, TOPIC_MAX + 1, tmp, strlen(tmp));
}

/* The topic an opening text stands for: its first line when it reads like
 * a title (at most OPENING_TITLE_BYTES bytes, no final punctuation), else
 * its first sentence (sentence_topic). A title line with fewer than two
 * words of three letters ("Oui", "Concours", "Au travail": a tab's label
 * more often than a title) is passed over for the next line, up to
 * OPENING_LINES lines. */
static void opening_topic(const char *text, char out[TOPIC_MAX + 1])
{
    out[0] = 0;
    for (int k = 0; k < OPENING_LINES && *text; k++) {
        while (*text == ' ' || *text == '\n' || *text == '\t')
            text++;
        size_t line = strcspn(text, "\n");
        size_t n = line;
        while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == ':' || text[n - 1] == '\t'))
            n--;
        bool title = n > 0 && n <= OPENING_TITLE_BYTES && !strchr(".!?;,", text[n - 1]);
        if (!title || long_words(text, n) >= 2 || k + 1 == OPENING_LINES) {
            if (title)
                copy_cut(out, TOPIC_MAX + 1, text, n);
            else
                sentence_topic(text, line, out);
            return;
        }
        text += line;
    }
}

/* "carte-identite_2024.pdf" → "carte identite 2024". */
static void name_topic(const char *name, char out[TOPIC_MAX + 1])
{
    const char *dot = strrchr(name, '.');
    size_t n = dot && dot != name ? (size_t)(dot - name) : strlen(name);
    copy_cut(out, TOPIC_MAX + 1, name, n);
    for (char *p = out; *p; p++)
        if (*p == '-' || *p == '_')
            *p = ' ';
}

static void docs_free(struct docs *ds)
{
    for (size_t i = 0; i < ds->n; i++) {
        free(ds->v[i].name);
        free(ds->v[i].title);
        free(ds->v[i].kb);
        for (size_t k = 0; k < ds->v[i].n_topics; k++)
            free(ds->v[i].topics[k]);
    }
    free(ds->v);
}

static enum lair_err gen_fail(struct gen_error *err, const char *field, const char *code,
                              const char *msg)
{
    snprintf(err->field, sizeof(err->field), "%s", field);
    err->code = code;
    snprintf(err->msg, sizeof(err->msg), "%s", msg);
    return LAIR_EUNPROC;
}

/* The topic of a document named by a code ("F1234.txt"): its opening
 * text's (opening_topic), or the file name when it has no text. */
static enum lair_err opening_of(struct tenant_db *db, const struct doc *d, char t[TOPIC_MAX + 1])
{
    char text[1024];
    enum lair_err e = kb_document_opening(db, d->id, text, sizeof(text));
    if (e)
        return e;
    opening_topic(text, t);
    if (!t[0])
        name_topic(d->name, t);
    return LAIR_OK;
}

static enum lair_err read_bases(struct tenant_db *db, const struct gen_opts *o, struct docs *ds,
                                char base_name[KB_NAME_MAX + 1], struct gen_error *err)
{
    base_name[0] = 0;
    for (size_t i = 0; i < o->n_kbs; i++) {
        char field[64], msg[320];
        snprintf(field, sizeof(field), "knowledge_bases[%zu]", i);
        struct kb_info info;
        enum lair_err e = kb_find(db, o->kbs[i], &info);
        if (e == LAIR_ENOTFOUND) {
            snprintf(msg, sizeof(msg), "'%s' has no knowledge base '%.64s' in this tenant", field,
                     o->kbs[i]);
            const char *code = "unknown_knowledge_base";
            return gen_fail(err, field, code, msg);
        }
        if (e)
            return e;
        if (!base_name[0] && strcmp(info.name, info.slug))
            snprintf(base_name, KB_NAME_MAX + 1, "%s", info.name);
        ds->kb = o->kbs[i];
        if ((e = kb_documents_list(db, o->kbs[i], doc_one, ds)))
            return e;
        if (ds->oom)
            return LAIR_ENOMEM;
    }
    const char *code = "no_documents";
    if (!ds->n)
        return gen_fail(err, "knowledge_bases", code,
                        "the knowledge bases hold no document yet: add documents, then generate");
    for (size_t i = 0; i < ds->n; i++) {
        struct doc *d = &ds->v[i];
        char t[TOPIC_MAX + 1];
        enum lair_err e = kb_document_headings(db, d->id, heading_one, d);
        if (e)
            return e;
        if (!d->n_topics) { /* no headings: the title, else the file name */
            if (d->title)
                copy_cut(t, sizeof(t), d->title, strlen(d->title));
            else if (name_has_words(d->name))
                name_topic(d->name, t);
            else if ((e = opening_of(db, d, t)))
                return e;
            add_topic(d, t);
        }
    }
    return LAIR_OK;
}

/* ---- the draft ---- */

/* The questions, documents taken in turn (breadth first) so that every
 * document is asked about before any is asked twice; no question twice. */
struct question {
    char text[GEN_QUESTION_MAX + 1];
    const struct doc *doc;
};

static size_t questions(const struct docs *ds, struct question *out, size_t max)
{
    size_t n = 0;
    for (size_t round = 0; round < MAX_TOPICS && n < max; round++) {
        bool any = false;
        for (size_t i = 0; i < ds->n && n < max; i++) {
            const struct doc *d = &ds->v[i];
            if (round >= d->n_topics)
                continue;
            any = true;
            gen_question(d->topics[round], out[n].text, sizeof(out[n].text));
            bool seen = !out[n].text[0];
            for (size_t k = 0; k < n && !seen; k++)
                seen = !strcmp(out[k].text, out[n].text);
            if (!seen)
                out[n++].doc = d;
        }
        if (!any)
            break;
    }
    return n;
}

static const char DEFAULT_INSTRUCTIONS[] =
    "Tu es l'assistant numérique de la collectivité. Tu réponds en français, de façon claire, "
    "courtoise et brève, uniquement à partir des documents fournis, et tu cites tes sources. Si "
    "la réponse ne figure pas dans les documents, dis-le simplement et oriente la personne vers "
    "l'accueil de la collectivité. Ne demande jamais de données personnelles et ne donne pas "
    "d'avis personnel.";

/* "Documents de référence : A, B, C (et N autres)." */
static void doc_line(const struct docs *ds, char *out, size_t cap)
{
    size_t len = (size_t)snprintf(out, cap, "\n\nDocuments de référence : ");
    size_t shown = 0;
    for (size_t i = 0; i < ds->n && shown < 12 && len + 8 < cap; i++, shown++) {
        const char *t = ds->v[i].title ? ds->v[i].title : ds->v[i].name;
        int w = snprintf(out + len, cap - len, "%s%.120s", shown ? ", " : "", t);
        if (w < 0 || (size_t)w >= cap - len)
            break;
        len += (size_t)w;
    }
    if (ds->n > shown && len + 32 < cap)
        len += (size_t)snprintf(out + len, cap - len, " (et %zu autres)", ds->n - shown);
    if (len + 2 < cap)
        snprintf(out + len, cap - len, ".");
}

static const char *tmpl_str(json_t *tmpl, const char *key)
{
    const char *s = tmpl ? json_string_value(json_object_get(tmpl, key)) : NULL;
    return s && s[0] ? s : NULL;
}

static json_t *build_spec(const struct docs *ds, const struct gen_opts *o, const char *base_name,
                          const struct question *qs, size_t n_q)
{
    json_t *spec = json_object();
    if (!spec)
        return NULL;
    /* the template's settings first, then what the documents decide */
    if (o->tmpl) {
        static const char *const keep[] = {"params",     "retrieval",  "citations",
                                           "guardrails", "visibility", "retention_days",
                                           "widget",     NULL};
        for (size_t i = 0; keep[i]; i++) {
            json_t *v = json_object_get(o->tmpl, keep[i]);
            if (v)
                json_object_set_new(spec, keep[i], json_deep_copy(v));
        }
    }
    char name[201];
    if (o->name && o->name[0])
        copy_cut(name, sizeof(name), o->name, strlen(o->name));
    else {
        const char *base = base_name[0]                   ? base_name
                           : ds->v[0].title && ds->n == 1 ? ds->v[0].title
                                                          : o->kbs[0];
        char tmp[260];
        snprintf(tmp, sizeof(tmp), "Assistant %s", base);
        copy_cut(name, sizeof(name), tmp, strlen(tmp));
    }
    char slug[64];
    gen_slug(name, slug);
    json_object_set_new(spec, "slug", json_string(slug));
    json_object_set_new(spec, "name", json_string(name));

    const char *ins = tmpl_str(o->tmpl, "instructions");
    char line[2048];
    doc_line(ds, line, sizeof(line));
    size_t il = strlen(ins ? ins : DEFAULT_INSTRUCTIONS);
    char *text = malloc(il + strlen(line) + 1);
    if (!text) {
        json_decref(spec);
        return NULL;
    }
    memcpy(text, ins ? ins : DEFAULT_INSTRUCTIONS, il);
    memcpy(text + il, line, strlen(line) + 1);
    json_object_set_new(spec, "instructions", json_string(text));
    free(text);
    json_object_set_new(spec, "model", json_string(o->model ? o->model : "default"));
    json_t *kbs = json_array();
    for (size_t i = 0; i < o->n_kbs; i++)
        json_array_append_new(kbs, json_string(o->kbs[i]));
    json_object_set_new(spec, "knowledge_bases", kbs);
    if (!json_object_get(spec, "citations"))
        json_object_set_new(spec, "citations", json_string("required"));

    char welcome[1024];
    const char *tw = tmpl_str(o->tmpl, "welcome");
    if (tw)
        copy_cut(welcome, sizeof(welcome), tw, strlen(tw));
    else {
        size_t len = (size_t)snprintf(welcome, sizeof(welcome),
                                      "Bonjour ! Je réponds à vos questions à partir des "
                                      "documents de %s",
                                      base_name[0] ? base_name : "la collectivité");
        for (size_t i = 0; i < ds->n && i < 3 && len + 140 < sizeof(welcome); i++)
            len +=
                (size_t)snprintf(welcome + len, sizeof(welcome) - len, "%s%.120s", i ? ", " : " : ",
                                 ds->v[i].title ? ds->v[i].title : ds->v[i].name);
        snprintf(welcome + len, sizeof(welcome) - len, ". Posez votre question.");
    }
    json_object_set_new(spec, "welcome", json_string(welcome));

    json_t *starters = json_array();
    for (size_t i = 0; i < n_q && i < GEN_MAX_STARTERS; i++) {
        char better[GEN_QUESTION_MAX + 1];
        const char *s = qs[i].text;
        if (o->phrase && o->phrase(o->arg, qs[i].text, qs[i].doc->name, better, sizeof(better)) &&
            better[0])
            s = better;
        json_array_append_new(starters, json_string(s));
    }
    json_object_set_new(spec, "starters", starters);
    return spec;
}

static json_t *build_suite(const struct docs *ds, const struct question *qs, size_t n_q)
{
    json_t *cases = json_array();
    for (size_t i = 0; i < n_q; i++) {
        char id[24];
        snprintf(id, sizeof(id), "q%02u", (unsigned)(i + 1) % 1000);
        char cat[EVAL_NAME_MAX + 1];
        snprintf(cat, sizeof(cat), "%s",
                 eval_name_valid(qs[i].doc->kb) ? qs[i].doc->kb : "documents");
        json_array_append_new(cases, json_pack("{s:s, s:s, s:s, s:{s:[s]}}", "id", id, "category",
                                               cat, "question", qs[i].text, "expect", "sources",
                                               qs[i].doc->name));
    }
    char desc[256];
    snprintf(desc, sizeof(desc),
             "Questions tirées des titres et intertitres de %zu document%s ; chacune attend son "
             "document parmi les sources.",
             ds->n, ds->n > 1 ? "s" : "");
    return json_pack("{s:s, s:s, s:i, s:o}", "name", "documents", "description", desc, "revision",
                     1, "cases", cases);
}

enum lair_err gen_assistant(struct tenant_db *db, const struct gen_opts *o, json_t **spec,
                            json_t **suite, struct gen_error *err)
{
    *spec = *suite = NULL;
    memset(err, 0, sizeof(*err));
    if (!o->n_kbs || o->n_kbs > GEN_MAX_KBS)
        return gen_fail(err, "knowledge_bases", "invalid_value",
                        "'knowledge_bases' must name 1 to 16 knowledge bases");
    struct docs ds = {.v = calloc(MAX_DOCS, sizeof(struct doc))};
    struct question *qs = calloc(GEN_MAX_CASES, sizeof(*qs));
    enum lair_err e = ds.v && qs ? LAIR_OK : LAIR_ENOMEM;
    char base_name[KB_NAME_MAX + 1];
    if (!e)
        e = read_bases(db, o, &ds, base_name, err);
    if (!e) {
        size_t n_q = questions(&ds, qs, GEN_MAX_CASES);
        *spec = build_spec(&ds, o, base_name, qs, n_q);
        *suite = build_suite(&ds, qs, n_q);
        if (!*spec || !*suite) {
            json_decref(*spec);
            json_decref(*suite);
            *spec = *suite = NULL;
            e = LAIR_ENOMEM;
        }
    }
    free(qs);
    if (ds.v)
        docs_free(&ds);
    return e;
}
