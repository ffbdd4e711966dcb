/* Fuzz target: PDF (src/doc/pdf.c over MuPDF): pages, text blocks, headings
 * guessed from font sizes, running headers, broken files.
 *
 * The input is a whole file handed to doc_extract as "file.pdf", as an upload
 * would be. The format is still found by content, so an input may wander
 * into another extractor, which is fine. fuzz_doc.h checks the result. */
#include "fuzz_doc.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct doc d;
    if (fuzz_extract(data, size, "file.pdf", &d) == LAIR_OK)
        doc_release(&d);
    return 0;
}
