/* Fuzz target: DOCX (src/doc/docx.c, and the zip and XML helpers of
 * src/doc/doc.c): headings from outline levels and styles, numbering, tables,
 * tracked changes, fields, text boxes, the title. See fuzz_zip.h for the two
 * kinds of input; parts, in order: word/document.xml, word/styles.xml,
 * docProps/core.xml. */
#include "fuzz_zip.h"

#include "core/banned.h"

static const char content_types[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
    "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
    "<Default Extension=\"xml\" ContentType=\"application/xml\"/>"
    "<Override PartName=\"/word/document.xml\" ContentType=\"application/"
    "vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/></Types>";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct fuzz_zip_entry fixed[] = {
        {"[Content_Types].xml", content_types, sizeof(content_types) - 1}};
    static const char *const parts[] = {"word/document.xml", "word/styles.xml",
                                        "docProps/core.xml"};
    fuzz_zipdoc(data, size, "document.docx", fixed, 1, parts, 3);
    return 0;
}
