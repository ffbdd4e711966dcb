/* Fuzz target: Markdown (src/doc/md.c): headings, lists, tables, code blocks,
 * inline markup, entities, front matter.
 *
 * The input is a whole file handed to doc_extract as "guide.md", as an upload
 * would be. The format is still found by content, so an input may wander
 * into another extractor, which is fine. fuzz_doc.h checks the result. */
#include "fuzz_doc.h"

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct doc d;
    if (fuzz_extract(data, size, "guide.md", &d) == LAIR_OK)
        doc_release(&d);
    return 0;
}
