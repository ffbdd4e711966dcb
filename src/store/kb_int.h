/* What src/store/kb.c and kb_search.c share, and nothing outside them
 * uses (kb.h is the module's interface). */
#ifndef LAIR_STORE_KB_INT_H
#define LAIR_STORE_KB_INT_H

#include <sqlite3.h>
#include <stdint.h>

#include "core/err.h"

/* sqlite3_prepare_v2, or a statement of the running batch's cache
 * (kb_batch_begin); let go with kbi_finalize, never sqlite3_finalize. */
enum lair_err kbi_prep(sqlite3 *db, const char *sql, sqlite3_stmt **st);
void kbi_finalize(sqlite3_stmt *st);
int64_t kbi_now(void);
/* Column i as text, "" for NULL. */
const char *kbi_col_text(sqlite3_stmt *st, int i);
/* LAIR_OK when knowledge base slug exists, LAIR_ENOTFOUND when not. */
enum lair_err kbi_find_h(sqlite3 *h, const char *slug);

#endif
