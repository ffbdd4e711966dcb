/* Fuzz target: ODT (src/doc/odt.c, and the zip and XML helpers of
 * src/doc/doc.c): headings, lists, tables with covered and repeated cells,
 * notes, tracked changes, the title. See fuzz_zip.h for the two kinds of
 * input; parts, in order: content.xml, meta.xml. */
#include "fuzz_zip.h"

#include "core/banned.h"

static const char mimetype[] = "application/vnd.oasis.opendocument.text";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct fuzz_zip_entry fixed[] = {{"mimetype", mimetype, sizeof(mimetype) - 1}};
    static const char *const parts[] = {"content.xml", "meta.xml"};
    fuzz_zipdoc(data, size, "document.odt", fixed, 1, parts, 2);
    return 0;
}
