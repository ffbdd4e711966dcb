/* The privacy filter a chat request hands the model layer (llm_privacy):
 * when the model's pool sends the request to an upstream of the `remote`
 * zone, the personal data of every message is replaced by placeholders
 * first, and the answer's placeholders are put back as it streams in
 * (gdpr/placeholder.h). The model layer owns the filter from llm_submit on;
 * nothing is masked for a local upstream or the embedded engine. */
#ifndef LAIR_ASSIST_PRIVACY_H
#define LAIR_ASSIST_PRIVACY_H

#include <stdbool.h>

#include "llm/llm.h"

/* OUT: *out (its ctx freed by the model layer, or by llm_privacy_release
 * when the request is not submitted). forbid_remote: the tenant or the
 * assistant forbids remote inference altogether. Errors: LAIR_ENOMEM. */
enum lair_err assist_privacy_new(bool forbid_remote, struct llm_privacy *out);

#endif
