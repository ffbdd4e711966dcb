/* People who sign in with their own identity (OpenID Connect): who belongs to
 * which tenant (members, access rules), their server-side sessions, the
 * sign-ins under way, and the one-time enrollment links that let a tenant's
 * first admin create their own key (docs/oidc.md). All of it lives in
 * system.db (schema v6, v7): a person is known before any tenant is chosen.
 *
 * Secrets (session ids, login bindings, enrollment tokens) are never stored:
 * only their keyed hash. Every function is safe from several threads. */
#ifndef LAIR_STORE_PEOPLE_H
#define LAIR_STORE_PEOPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "store/system.h"

#define MEMBER_ID_LEN KEY_ID_LEN /* a member acts as a principal: same id space as keys */
#define PEOPLE_EMAIL_MAX 254
#define PEOPLE_NAME_MAX 200
#define PEOPLE_SUB_MAX 255
#define PEOPLE_PROVIDER_MAX 63
#define ACCESS_VALUE_MAX 200
#define SESSION_TOKEN_LEN 43 /* base64url of 32 random bytes */
#define CSRF_TOKEN_LEN 43

/* How people reach a tenant without being named (docs/oidc.md). */
enum access_kind {
    ACCESS_SIRET,  /* ProConnect's "siret" claim: 14 digits */
    ACCESS_DOMAIN, /* the domain of a verified email */
    ACCESS_GROUP,  /* a value of the provider's groups claim */
};

struct access_rule {
    enum access_kind kind;
    char value[ACCESS_VALUE_MAX + 1];
    enum key_role role;                     /* user, editor or admin */
    char provider[PEOPLE_PROVIDER_MAX + 1]; /* "" = any configured provider */
};

struct member_row {
    char id[MEMBER_ID_LEN + 1];
    char tenant[SLUG_MAX + 1];
    char email[PEOPLE_EMAIL_MAX + 1];
    char name[PEOPLE_NAME_MAX + 1];
    char provider[PEOPLE_PROVIDER_MAX + 1]; /* "" until the first sign-in */
    char sub[PEOPLE_SUB_MAX + 1];
    enum key_role role;
    char source[16]; /* "named", "siret", "domain", "group", "enrollment" */
    bool removed;
    int64_t created_at, last_login;
};

/* What a provider said about the person who just signed in (verified). */
struct identity {
    const char *provider, *sub;
    const char *email; /* lowercased, verified by the provider; may be "" */
    const char *name;
    const char *siret; /* "" when the provider sent none */
    const char *const *groups;
    size_t n_groups;
    const char *sid; /* the provider's session id (ID token's sid); NULL or "" when none */
};

/* One tenant a person may enter, and as what. */
struct entry {
    char tenant[SLUG_MAX + 1];
    char tenant_name[128];
    enum key_role role;
    char member[MEMBER_ID_LEN + 1]; /* "" when no member row exists yet */
    char source[16];
};
#define PEOPLE_MAX_ENTRIES 32

/* A session as each request sees it: the member row is read again every
 * time, so removing a member or changing their role takes effect at once. */
struct session_view {
    struct principal who; /* key_id = the member id; tenant and role from the member */
    char csrf[CSRF_TOKEN_LEN + 1];
    char provider[PEOPLE_PROVIDER_MAX + 1];
    char sub[PEOPLE_SUB_MAX + 1];
    char email[PEOPLE_EMAIL_MAX + 1];
    char name[PEOPLE_NAME_MAX + 1];
    bool chosen;       /* false: signed in, tenant not chosen yet (who is empty) */
    char claims[4096]; /* JSON {"siret", "groups"} from the sign-in */
    int64_t created_at, last_seen;
};

/* Session lifetimes (seconds); 0 in a field keeps the default. */
struct session_limits {
    int64_t idle;     /* default 30 minutes without a request */
    int64_t absolute; /* default 12 hours after sign-in */
};

const char *access_kind_name(enum access_kind k);
/* LAIR_EINVAL for an unknown name. */
enum lair_err access_kind_parse(const char *s, enum access_kind *out);
/* True when value is a valid rule value for kind: 14 digits with a valid
 * Luhn key for a SIRET, a lowercase DNS name for a domain, 1 to 200
 * printable characters for a group. */
bool access_value_valid(enum access_kind kind, const char *value);
/* A syntactically valid, lowercased email of at most PEOPLE_EMAIL_MAX bytes. */
bool people_email_valid(const char *email);

/* ---- access rules and members (a tenant's admins manage them) ---- */

/* Replaces tenant's rules with rules[0..n) in one transaction. */
enum lair_err people_rules_set(struct sysdb *s, const char *tenant, const struct access_rule *rules,
                               size_t n);
enum lair_err people_rules_list(struct sysdb *s, const char *tenant, struct access_rule *out,
                                size_t max, size_t *n);

/* Names a person (by email) as a member with role, before they sign in.
 * LAIR_ECONFLICT when an active member has that email; a removed one comes
 * back with the new role. OUT: id (may be NULL). */
enum lair_err people_member_add(struct sysdb *s, const char *tenant, const char *email,
                                enum key_role role, const char *added_by,
                                char id[MEMBER_ID_LEN + 1]);
/* Names a person by their identity at a provider (provider id + subject),
 * for providers whose people have no stable email. Same results as
 * people_member_add; LAIR_EINVAL for a bad provider id or subject. */
enum lair_err people_member_add_subject(struct sysdb *s, const char *tenant, const char *provider,
                                        const char *sub, enum key_role role, const char *added_by,
                                        char id[MEMBER_ID_LEN + 1]);
enum lair_err people_member_list(struct sysdb *s, const char *tenant, struct member_row *out,
                                 size_t max, size_t *n);
enum lair_err people_member_get(struct sysdb *s, const char *tenant, const char *id,
                                struct member_row *out);
/* Changes a member's role. LAIR_ENOTFOUND (also another tenant's id or a
 * removed member); LAIR_ECONFLICT when it would leave the tenant with no
 * admin at all (no active admin member and no usable admin key). */
enum lair_err people_member_set_role(struct sysdb *s, const char *tenant, const char *id,
                                     enum key_role role);
/* Removes a member: their sessions end and their personal keys are revoked
 * in the same transaction; access rules no longer let them in (an admin
 * names them again to undo it). Same errors as people_member_set_role. */
enum lair_err people_member_remove(struct sysdb *s, const char *tenant, const char *id);

/* ---- signing in ---- */

/* The tenants id may enter: its members rows (by provider+sub, then by
 * email for named people not yet signed in) and the access rules that match
 * its claims, except where it was removed. */
enum lair_err people_entries(struct sysdb *s, const struct identity *id, struct entry *out,
                             size_t max, size_t *n);
/* Binds id to tenant (creating or updating the member row from the entry
 * people_entries gave) and records the sign-in. OUT: member id. LAIR_EPERM
 * when tenant is not one of id's entries any more. */
enum lair_err people_enter(struct sysdb *s, const struct identity *id, const char *tenant,
                           char member[MEMBER_ID_LEN + 1]);

/* A sign-in under way: state → what the callback needs. binding is the
 * browser's login cookie (its hash is stored). Expires after 10 minutes;
 * taking it deletes it (a replayed state is refused). */
struct pending_login {
    char provider[PEOPLE_PROVIDER_MAX + 1];
    char nonce[64];
    char verifier[64];
    char next[256];
};
enum lair_err people_login_put(struct sysdb *s, const char *state, const char *binding,
                               const struct pending_login *p);
/* LAIR_ENOTFOUND when unknown, expired or already used, LAIR_EAUTH when the
 * binding does not match (the row is deleted either way). */
enum lair_err people_login_take(struct sysdb *s, const char *state, const char *binding,
                                struct pending_login *out);

/* ---- sessions ---- */

/* Creates a session for id; member "" = tenant not chosen yet. id_token is
 * kept for RP-initiated logout (id_token_hint); claims (JSON: the SIRET and
 * groups the provider gave) for choosing a tenant later. OUT: the cookie's token and
 * the CSRF token. */
enum lair_err people_session_create(struct sysdb *s, const struct identity *id, const char *member,
                                    const char *id_token, const char *claims,
                                    char token[SESSION_TOKEN_LEN + 1],
                                    char csrf[CSRF_TOKEN_LEN + 1]);
/* Looks a cookie token up. LAIR_EAUTH when unknown, timed out (the row is
 * deleted), or its member was removed. Touches last_seen (at most once a
 * minute). */
enum lair_err people_session_get(struct sysdb *s, const char *token,
                                 const struct session_limits *lim, struct session_view *out);
/* Sets the session's tenant (member) after a choice. */
enum lair_err people_session_choose(struct sysdb *s, const char *token, const char *member);
/* Ends one session; OUT: its id_token (for the provider's logout), may be NULL. */
enum lair_err people_session_end(struct sysdb *s, const char *token, char *id_token, size_t cap);
/* Ends every session of the person (provider+sub). OUT: how many. */
enum lair_err people_session_end_all(struct sysdb *s, const char *provider, const char *sub,
                                     int *n);

/* Revokes every personal key of tenant (a tenant moved without its members:
 * a key must not outlive the membership it was tied to). OUT: how many. */
enum lair_err people_personal_keys_revoke(struct sysdb *s, const char *tenant, int *n);

/* ---- enrollment links (the operator holds no tenant secret) ---- */

#define ENROLL_TOKEN_LEN 43
/* Creates a one-time link for tenant's first (or a new) admin, valid for
 * ttl seconds. OUT: the token (only its hash is stored) and the link's id. */
enum lair_err people_enroll_create(struct sysdb *s, const char *tenant, const char *created_by,
                                   int64_t ttl, char token[ENROLL_TOKEN_LEN + 1],
                                   char id[MEMBER_ID_LEN + 1], int64_t *expires_at);
/* Uses a link: creates an admin key for its tenant in the same transaction
 * and marks the link used. LAIR_ENOTFOUND unknown; LAIR_ECONFLICT already
 * used; LAIR_EEXPIRED expired. OUT: tenant, link id, the key. */
enum lair_err people_enroll_use(struct sysdb *s, const char *token, char tenant[SLUG_MAX + 1],
                                char id[MEMBER_ID_LEN + 1], char key_text[KEY_TEXT_MAX],
                                char key_id[KEY_ID_LEN + 1]);

/* ---- tenant moves (ops/move.c, docs/operations.md) ---- */

/* The tenant's members (removed ones included: a removal is a veto that
 * must survive a move) and access rules, as the people.json of a tenant
 * archive: {"members": [{"id", "email", "name", "provider", "sub", "role",
 * "source", "removed", "added_by", "created_at", "last_login"}], "rules":
 * [{"kind", "value", "role", "provider"}]}. Sessions are never exported.
 * OUT: *json, OWNED (free with free()). */
enum lair_err people_export(struct sysdb *s, const char *tenant, char **json);

/* Takes a people_export text into tenant (which must exist: LAIR_ENOTFOUND)
 * in one transaction, or nothing. Every field is checked first (member id
 * 12 lowercase hex, email "" or valid, role, source, provider "" or
 * [a-z0-9-]{1,63}, lengths, integers >= 0, rule values, no unknown or
 * missing field): LAIR_EINVAL for a malformed text, or one whose rows
 * collide with each other (two members with one email). When a member id
 * exists already in this system.db (it owns conversations, so it is kept),
 * no member is inserted and *ids_taken is set; the rules still are.
 * OUT: *n_members and *n_rules, the rows inserted; *ids_taken. */
enum lair_err people_import(struct sysdb *s, const char *tenant, const char *json, int *n_members,
                            int *n_rules, bool *ids_taken);

/* ---- back-channel logout (api/auth.c, docs/oidc.md) ---- */

/* A member whose session a logout ended (its tenant's log records it). */
struct session_ended {
    char tenant[SLUG_MAX + 1];
    char member[MEMBER_ID_LEN + 1];
};
/* Ends, in one transaction, the sessions a provider's logout token names:
 * every session of provider+sub when sub is given (sid is then not
 * needed: the person is signed out everywhere), else those of provider+sid
 * (the sid stored at sign-in). OUT: *n_sessions, how many ended; out[0..
 * *n_members), the distinct members among them (chosen sessions only; at
 * most max, the rest uncounted). LAIR_EINVAL when both sub and sid are
 * NULL or "". */
enum lair_err people_session_end_logout(struct sysdb *s, const char *provider, const char *sub,
                                        const char *sid, struct session_ended *out, size_t max,
                                        size_t *n_members, int *n_sessions);

#endif
