/* Subject ids and their pseudonymous audit tokens. */
#include "gdpr/subject.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "core/banned.h"

#define TOKEN_BYTES 16

bool gdpr_subject_valid(struct str s)
{
    return s.len > 0 && s.len <= GDPR_SUBJECT_MAX && !memchr(s.ptr, 0, s.len) &&
           utf8_valid(s.ptr, s.len);
}

static void put_lp(crypto_generichash_state *h, const void *p, size_t n)
{
    unsigned char be[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                           (unsigned char)(n >> 8), (unsigned char)n};
    crypto_generichash_update(h, be, sizeof(be));
    crypto_generichash_update(h, p, n);
}

void gdpr_subject_token(const unsigned char key[AUDIT_KEY_LEN], const char *tenant,
                        struct str subject, char out[GDPR_TOKEN_MAX])
{
    static const char domain[] = "LibreAIr subject token v1";
    unsigned char mac[TOKEN_BYTES];
    crypto_generichash_state h;
    crypto_generichash_init(&h, key, AUDIT_KEY_LEN, sizeof(mac));
    crypto_generichash_update(&h, (const unsigned char *)domain, sizeof(domain)); /* with NUL */
    put_lp(&h, tenant, strlen(tenant));
    put_lp(&h, subject.ptr, subject.len);
    crypto_generichash_final(&h, mac, sizeof(mac));
    memcpy(out, "sh_", 3);
    sodium_bin2hex(out + 3, GDPR_TOKEN_MAX - 3, mac, sizeof(mac));
    sodium_memzero(&h, sizeof(h));
}
