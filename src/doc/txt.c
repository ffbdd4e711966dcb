/* Plain text: paragraphs are separated by blank lines, and the lines of a
 * paragraph are joined by spaces (text files wrap lines at a fixed width, so
 * a line break inside a paragraph is not a boundary). A form feed starts a new
 * page, as in the output of pdftotext: a file with form feeds gets page
 * numbers from 1, one without gets page 0. Text that is not valid UTF-8 is
 * read as windows-1252 (see doc_to_utf8). */
#include "doc/doc_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

enum lair_err doc_txt_extract(struct doc_sink *s, const char *data, size_t len)
{
    const char *text, *label;
    size_t n;
    char *owned;
    if (doc_to_utf8(s, data, len, NULL, &text, &n, &owned, &label))
        return s->err;
    s->page = memchr(text, '\f', n) ? 1 : 0;
    const char *p = text, *end = text + n;
    while (p < end && !s->err) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        struct str line = str_trim((struct str){p, (size_t)(eol - p)});
        const char *ff = memchr(p, '\f', (size_t)(eol - p));
        if (ff) {
            /* Text before the form feed ends the page's last paragraph. */
            sink_text(s, p, (size_t)(ff - p));
            sink_emit(s, DOC_PARAGRAPH, 0);
            s->page++;
            p = ff + 1;
            continue;
        }
        if (!line.len) {
            sink_emit(s, DOC_PARAGRAPH, 0);
        } else {
            sink_space(s);
            sink_text(s, line.ptr, line.len);
        }
        p = nl ? nl + 1 : end;
    }
    sink_emit(s, DOC_PARAGRAPH, 0);
    free(owned);
    return s->err;
}
