/* The processing register, built from the live configuration, and its
 * Markdown and HTML renderings. */
#include "gdpr/register.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/banned.h"

#define PURPOSE_MAX 400

size_t gdpr_first_sentence(const char *text, char *out, size_t max)
{
    size_t n = 0;
    const char *p = text ? text : "";
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    for (; p[n]; n++) {
        if (p[n] == '\n' || p[n] == '\r')
            break;
        if ((p[n] == '.' || p[n] == '!' || p[n] == '?') &&
            (p[n + 1] == 0 || p[n + 1] == ' ' || p[n + 1] == '\n')) {
            n++;
            break;
        }
    }
    if (max == 0)
        return 0;
    if (n > max - 1)
        n = utf8_complete_prefix(p, max - 1);
    memcpy(out, p, n);
    out[n] = 0;
    return n;
}

static const char *pii_text(enum pii_mode m)
{
    switch (m) {
    case PII_MASK:
        return "contenu des conversations : texte libre saisi par la personne et réponses, les "
               "identifiants détectés (NIR, IBAN, RIB, SIREN, SIRET, TVA, carte bancaire, "
               "téléphone, e-mail, immatriculation, date de naissance) étant remplacés par leur "
               "type avant enregistrement";
    case PII_PSEUDONYMISE:
        return "contenu des conversations : texte libre saisi par la personne et réponses, les "
               "identifiants détectés étant remplacés par des pseudonymes stables ; la "
               "correspondance est conservée à part, consultable par l'administrateur, effacée "
               "avec la conversation";
    default:
        return "contenu des conversations : texte libre saisi par la personne et réponses, "
               "enregistrés tels quels (peuvent contenir toute donnée que la personne choisit "
               "d'écrire)";
    }
}

static json_t *data_categories(const struct assistant *a)
{
    json_t *v = json_array();
    json_array_append_new(v, json_string(pii_text(a->pii)));
    json_array_append_new(v, json_string("identifiant de la personne concernée (champ « user » "
                                         "de la requête), lorsque l'application le transmet"));
    json_array_append_new(v, json_string("métadonnées : dates, identifiant de la clé d'API "
                                         "utilisée, nombre de jetons consommés"));
    if (a->n_knowledge_bases) {
        char b[1200];
        size_t n = (size_t)snprintf(b, sizeof(b),
                                    "documents des bases de connaissances de "
                                    "l'organisation :");
        for (int i = 0; i < a->n_knowledge_bases && n < sizeof(b); i++)
            n += (size_t)snprintf(b + n, sizeof(b) - n, "%s %s", i ? "," : "",
                                  a->knowledge_bases[i]);
        json_array_append_new(v, json_string(b));
    }
    return v;
}

static json_t *data_subjects(const struct assistant *a)
{
    json_t *v = json_array();
    if (a->visibility == VIS_PUBLIC) {
        char b[1600];
        size_t n =
            (size_t)snprintf(b, sizeof(b), "usagers (public) de l'assistant sur les sites :");
        size_t i;
        json_t *o;
        json_array_foreach(a->allowed_origins, i, o)
        {
            if (n >= sizeof(b))
                break;
            n +=
                (size_t)snprintf(b + n, sizeof(b) - n, "%s %s", i ? "," : "", json_string_value(o));
        }
        json_array_append_new(v, json_string(b));
    } else {
        json_array_append_new(v, json_string("agents de l'organisation (détenteurs d'une clé "
                                             "d'API de l'organisation)"));
    }
    json_array_append_new(v, json_string("personnes mentionnées dans les messages"));
    return v;
}

/* The purge (gdpr/retention.c) follows the published version's
 * retention_days: an assistant never published (its draft's conversations,
 * made by editors trying it) follows the organisation's. */
static json_t *retention(const struct assistant *a, bool published, int64_t tenant_days)
{
    char b[300];
    if (published && a->retention_days > 0) {
        snprintf(b, sizeof(b), "%d jours après le dernier échange (réglage de l'assistant)",
                 a->retention_days);
        return json_pack("{s:i, s:s, s:s}", "days", a->retention_days, "source", "assistant",
                         "text", b);
    }
    char later[120] = "";
    if (!published && a->retention_days > 0)
        snprintf(later, sizeof(later), " ; à sa publication, %d jours (réglage de l'assistant)",
                 a->retention_days);
    if (tenant_days > 0) {
        snprintf(b, sizeof(b), "%lld jours après le dernier échange (réglage de l'organisation)%s",
                 (long long)tenant_days, later);
        return json_pack("{s:I, s:s, s:s}", "days", (json_int_t)tenant_days, "source", "tenant",
                         "text", b);
    }
    snprintf(b, sizeof(b),
             "aucune durée fixée : conservé jusqu'à suppression ou effacement (à compléter : "
             "fixer retention_days)%s",
             later);
    return json_pack("{s:n, s:s, s:s}", "days", "source", "none", "text", b);
}

/* Backups hold the conversations too, for as long as the operator keeps
 * them; an erasure made after a backup is replayed when it is restored
 * (docs/operations.md). */
static json_t *backups(const struct gdpr_register_in *in)
{
    static const char replay[] = " ; une personne effacée après une sauvegarde le reste à sa "
                                 "restauration (les effacements sont rejoués)";
    char b[400];
    if (in->backup_retention_days > 0) {
        snprintf(b, sizeof(b), "sauvegardes (libreair backup) conservées %lld jours au plus%s",
                 (long long)in->backup_retention_days, replay);
        return json_pack("{s:I, s:s}", "retention_days", (json_int_t)in->backup_retention_days,
                         "text", b);
    }
    snprintf(b, sizeof(b),
             "sauvegardes (libreair backup) : durée de conservation à compléter par l'exploitant "
             "(la plus courte possible)%s",
             replay);
    return json_pack("{s:n, s:s}", "retention_days", "text", b);
}

static json_t *security(const struct assistant *a, const struct gdpr_register_in *in)
{
    json_t *v = json_array();
    char b[400];
    json_array_append_new(v, json_string("cloisonnement : base de données propre à "
                                         "l'organisation, atteinte uniquement par ses clés"));
    json_array_append_new(v, json_string("contrôle d'accès : clés d'API à rôles (admin, "
                                         "editor, user), stockées sous forme d'empreintes"));
    json_array_append_new(v, json_string("journal d'audit chaîné et scellé (sans contenu de "
                                         "message ni donnée personnelle en clair)"));
    json_array_append_new(v, json_string("journaux techniques sans contenu de message, "
                                         "identifiants masqués"));
    json_array_append_new(v, json_string("effacement sans trace : suppression sécurisée "
                                         "(secure_delete), réécriture de la base, journal WAL "
                                         "tronqué"));
    if (in->purge_interval_s)
        snprintf(b, sizeof(b), "purge automatique des conversations expirées toutes les %u s",
                 in->purge_interval_s);
    else
        snprintf(b, sizeof(b),
                 "purge des conversations expirées au démarrage du serveur et "
                 "par « libreair gdpr purge »");
    json_array_append_new(v, json_string(b));
    snprintf(b, sizeof(b), "politique de données personnelles de l'assistant : %s",
             a->pii == PII_MASK           ? "masquage"
             : a->pii == PII_PSEUDONYMISE ? "pseudonymisation"
                                          : "conservation telle quelle");
    json_array_append_new(v, json_string(b));
    json_array_append_new(v, json_string(in->n_outbound ? "connexions sortantes limitées aux "
                                                          "destinations déclarées"
                                                        : "aucune connexion sortante"));
    if (a->visibility == VIS_PUBLIC)
        json_array_append_new(v, json_string("accès public limité aux origines déclarées, débit "
                                             "limité par client"));
    return v;
}

static json_t *recipients(const struct assistant *a, const struct gdpr_register_in *in)
{
    json_t *v = json_array();
    for (size_t i = 0; i < in->n_outbound; i++)
        json_array_append_new(v, json_string(in->outbound[i]));
    return v;
}

static json_t *processing(const struct gdpr_register_assistant *ra,
                          const struct gdpr_register_in *in)
{
    const struct assistant *a = ra->a;
    char purpose[PURPOSE_MAX + 1], model[300];
    const char *source = "instructions";
    if (!gdpr_first_sentence(a->instructions, purpose, sizeof(purpose))) {
        snprintf(purpose, sizeof(purpose), "Assistant « %s »", a->name ? a->name : a->slug);
        source = "name";
    }
    snprintf(model, sizeof(model),
             in->n_outbound ? "modèle « %s » (voir destinataires)"
                            : "aucun : le modèle « %s » s'exécute sur le serveur de "
                              "l'organisation",
             a->model);
    return json_pack(
        "{s:s, s:s, s:b, s:i, s:{s:s, s:s}, s:s, s:o, s:o, s:s, s:o, s:o, s:s, "
        "s:s, s:o, s:o}",
        "assistant", a->slug, "name", a->name ? a->name : a->slug, "published", ra->published,
        "version", a->version, "purpose", "text", purpose, "source", source, "legal_basis",
        "à compléter par le responsable de traitement (le plus souvent : mission "
        "d'intérêt public, art. 6.1.e)",
        "data_categories", data_categories(a), "data_subjects", data_subjects(a), "pii_policy",
        a->pii == PII_MASK           ? "mask"
        : a->pii == PII_PSEUDONYMISE ? "pseudonymise"
                                     : "keep",
        "retention", retention(a, ra->published, in->tenant_retention_days), "recipients",
        recipients(a, in), "recipients_text", model, "transfers_outside_eu",
        in->n_outbound ? "à vérifier pour chaque destination" : "aucun", "security_measures",
        security(a, in), "backups", backups(in));
}

json_t *gdpr_register_json(const struct gdpr_register_in *in)
{
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *list = json_array();
    for (size_t i = 0; list && i < in->n; i++)
        if (json_array_append_new(list, processing(&in->assistants[i], in))) {
            json_decref(list);
            list = NULL;
        }
    if (!list)
        return NULL;
    return json_pack(
        "{s:s, s:{s:s, s:s, s:s}, s:s, s:s, s:o}", "object", "register", "controller", "tenant",
        in->tenant, "name", in->tenant_name && *in->tenant_name ? in->tenant_name : in->tenant,
        "dpo", "à compléter (coordonnées du délégué à la protection des données)", "generated_at",
        when, "generator", in->version ? in->version : "LibreAIr", "processings", list);
}

/* ---- renderings ---- */

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* Markdown table cell: no line break, pipes escaped. */
static enum lair_err md_cell(struct buf *out, const char *s)
{
    enum lair_err e = LAIR_OK;
    for (; *s && !e; s++) {
        if (*s == '|')
            e = buf_puts(out, "\\|");
        else if (*s == '\n' || *s == '\r')
            e = buf_puts(out, " ");
        else
            e = buf_append(out, s, 1);
    }
    return e;
}

static enum lair_err md_list(struct buf *out, const json_t *arr, const char *empty)
{
    if (!json_array_size(arr))
        return md_cell(out, empty);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (i)
            buf_puts(out, " ; ");
        md_cell(out, json_string_value(v) ? json_string_value(v) : "");
    }
    return LAIR_OK;
}

static void md_row(struct buf *out, const char *label, const char *value)
{
    buf_printf(out, "| %s | ", label);
    md_cell(out, value);
    buf_puts(out, " |\n");
}

enum lair_err gdpr_register_markdown(const json_t *reg, struct buf *out)
{
    const json_t *c = json_object_get(reg, "controller");
    buf_puts(out, "# Registre des traitements — ");
    md_cell(out, jstr(c, "name"));
    buf_printf(out, "\n\nGénéré le %s par %s à partir de la configuration en service.\n\n",
               jstr(reg, "generated_at"), jstr(reg, "generator"));
    buf_puts(out, "- Responsable de traitement : ");
    md_cell(out, jstr(c, "name"));
    buf_puts(out, " (`");
    md_cell(out, jstr(c, "tenant"));
    buf_puts(out, "`)\n- Délégué à la protection des données : ");
    md_cell(out, jstr(c, "dpo"));
    buf_puts(out, "\n");
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(reg, "processings"), i, p)
    {
        const json_t *ret = json_object_get(p, "retention");
        buf_puts(out, "\n## ");
        md_cell(out, jstr(p, "name"));
        buf_printf(out, " (`%s`, version %lld%s)\n\n| | |\n|---|---|\n", jstr(p, "assistant"),
                   (long long)json_integer_value(json_object_get(p, "version")),
                   json_is_true(json_object_get(p, "published")) ? ", publiée" : ", brouillon");
        md_row(out, "Finalité", jstr(json_object_get(p, "purpose"), "text"));
        md_row(out, "Base légale", jstr(p, "legal_basis"));
        buf_puts(out, "| Catégories de données | ");
        md_list(out, json_object_get(p, "data_categories"), "");
        buf_puts(out, " |\n| Personnes concernées | ");
        md_list(out, json_object_get(p, "data_subjects"), "");
        buf_puts(out, " |\n");
        md_row(out, "Durée de conservation", jstr(ret, "text"));
        md_row(out, "Sauvegardes", jstr(json_object_get(p, "backups"), "text"));
        buf_puts(out, "| Destinataires | ");
        md_list(out, json_object_get(p, "recipients"), jstr(p, "recipients_text"));
        buf_puts(out, " |\n");
        md_row(out, "Transferts hors UE", jstr(p, "transfers_outside_eu"));
        buf_puts(out, "| Mesures de sécurité | ");
        md_list(out, json_object_get(p, "security_measures"), "");
        buf_puts(out, " |\n");
    }
    if (!json_array_size(json_object_get(reg, "processings")))
        buf_puts(out, "\nAucun assistant n'est défini : aucun traitement.\n");
    return out->ptr ? LAIR_OK : LAIR_ENOMEM;
}

static void html_row(struct buf *out, const char *label, const char *value)
{
    buf_printf(out, "<tr><th>%s</th><td>", label);
    buf_html(out, value);
    buf_puts(out, "</td></tr>\n");
}

static void html_list_row(struct buf *out, const char *label, const json_t *arr, const char *empty)
{
    buf_printf(out, "<tr><th>%s</th><td>", label);
    if (!json_array_size(arr)) {
        buf_html(out, empty);
    } else {
        buf_puts(out, "<ul>");
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v)
        {
            buf_puts(out, "<li>");
            buf_html(out, json_string_value(v) ? json_string_value(v) : "");
            buf_puts(out, "</li>");
        }
        buf_puts(out, "</ul>");
    }
    buf_puts(out, "</td></tr>\n");
}

enum lair_err gdpr_register_html(const json_t *reg, struct buf *out)
{
    const json_t *c = json_object_get(reg, "controller");
    buf_puts(out, "<!doctype html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">"
                  "<title>Registre des traitements — ");
    buf_html(out, jstr(c, "name"));
    buf_puts(out, "</title><style>body{font-family:sans-serif;max-width:60em;margin:auto}"
                  "table{border-collapse:collapse;width:100%}th,td{border:1px solid #999;"
                  "padding:.3em;text-align:left;vertical-align:top}th{width:14em}</style>"
                  "</head><body>\n<h1>Registre des traitements — ");
    buf_html(out, jstr(c, "name"));
    buf_puts(out, "</h1>\n<p>Généré le ");
    buf_html(out, jstr(reg, "generated_at"));
    buf_puts(out, " par ");
    buf_html(out, jstr(reg, "generator"));
    buf_puts(out, " à partir de la configuration en service.</p>\n<p>Responsable de "
                  "traitement : ");
    buf_html(out, jstr(c, "name"));
    buf_puts(out, " (<code>");
    buf_html(out, jstr(c, "tenant"));
    buf_puts(out, "</code>). Délégué à la protection des données : ");
    buf_html(out, jstr(c, "dpo"));
    buf_puts(out, "</p>\n");
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(reg, "processings"), i, p)
    {
        buf_puts(out, "<h2>");
        buf_html(out, jstr(p, "name"));
        buf_puts(out, " (<code>");
        buf_html(out, jstr(p, "assistant"));
        buf_printf(out, "</code>, version %lld%s)</h2>\n<table>\n",
                   (long long)json_integer_value(json_object_get(p, "version")),
                   json_is_true(json_object_get(p, "published")) ? ", publiée" : ", brouillon");
        html_row(out, "Finalité", jstr(json_object_get(p, "purpose"), "text"));
        html_row(out, "Base légale", jstr(p, "legal_basis"));
        html_list_row(out, "Catégories de données", json_object_get(p, "data_categories"), "");
        html_list_row(out, "Personnes concernées", json_object_get(p, "data_subjects"), "");
        html_row(out, "Durée de conservation", jstr(json_object_get(p, "retention"), "text"));
        html_row(out, "Sauvegardes", jstr(json_object_get(p, "backups"), "text"));
        html_list_row(out, "Destinataires", json_object_get(p, "recipients"),
                      jstr(p, "recipients_text"));
        html_row(out, "Transferts hors UE", jstr(p, "transfers_outside_eu"));
        html_list_row(out, "Mesures de sécurité", json_object_get(p, "security_measures"), "");
        buf_puts(out, "</table>\n");
    }
    if (!json_array_size(json_object_get(reg, "processings")))
        buf_puts(out, "<p>Aucun assistant n'est défini : aucun traitement.</p>\n");
    return buf_puts(out, "</body></html>\n");
}
