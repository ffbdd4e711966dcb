/* Shows what LibreAIr extracts from documents: format, title, pages and each
 * block with its kind, page and heading path, as the knowledge base will see
 * them. For people checking a file, and for debugging the extractors.
 *
 *   doc-extract [--tsv] [--limit NAME=VALUE]... FILE...
 *
 * --tsv prints one block per line: file, index, page, kind, level, heading
 * path, text (tabs and newlines in texts escaped as \t and \n).
 * --limit sets a safety limit by its doc_limits name, for instance
 * --limit max_pages=10 or --limit max_file_bytes=1048576.
 * Each file that cannot be read gets one line on stderr, "FILE: error: …",
 * and the others go on; the exit status is 1 when any failed, 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "doc/doc.h"

#include "core/banned.h"

static void usage(FILE *f)
{
    fputs("usage: doc-extract [--tsv] [--limit NAME=VALUE]... FILE...\n"
          "Prints the blocks LibreAIr extracts from each file (text, Markdown, HTML, PDF,\n"
          "DOCX, ODT) with their page and heading path.\n"
          "limits: max_file_bytes max_unzipped_bytes max_zip_entries max_text_bytes\n"
          "        max_blocks max_pages max_xml_depth max_pdf_memory\n",
          f);
}

static int set_limit(struct doc_limits *lim, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq)
        return -1;
    char *end;
    unsigned long long v = strtoull(eq + 1, &end, 10);
    if (*end || end == eq + 1)
        return -1;
    size_t k = (size_t)(eq - arg);
#define LIM(f)                                                                                     \
    if (k == strlen(#f) && !strncmp(arg, #f, k)) {                                                 \
        lim->f = (__typeof__(lim->f))v;                                                            \
        return 0;                                                                                  \
    }
    LIM(max_file_bytes)
    LIM(max_unzipped_bytes)
    LIM(max_zip_entries)
    LIM(max_text_bytes)
    LIM(max_blocks)
    LIM(max_pages)
    LIM(max_xml_depth)
    LIM(max_pdf_memory)
#undef LIM
    return -1;
}

static void put_escaped(const char *s)
{
    for (; *s; s++) {
        if (*s == '\t')
            fputs("\\t", stdout);
        else if (*s == '\n')
            fputs("\\n", stdout);
        else if (*s == '\\')
            fputs("\\\\", stdout);
        else
            putchar(*s);
    }
}

static void print_human(const char *file, const struct doc *d)
{
    printf("%s: %s", file, doc_format_name(d->format));
    if (d->npages)
        printf(", %u page%s", d->npages, d->npages > 1 ? "s" : "");
    printf(", %zu blocks, %zu bytes of text", d->nblocks, d->text_bytes);
    if (d->title)
        printf(", title \"%s\"", d->title);
    putchar('\n');
    const char *path = NULL;
    for (size_t i = 0; i < d->nblocks; i++) {
        const struct doc_block *b = &d->blocks[i];
        if (b->heading_path != path && b->kind != DOC_HEADING && b->heading_path[0])
            printf("      under: %s\n", b->heading_path);
        path = b->heading_path;
        char tag[24];
        switch (b->kind) {
        case DOC_HEADING: snprintf(tag, sizeof tag, "H%u", b->level); break;
        case DOC_PARAGRAPH: snprintf(tag, sizeof tag, "P"); break;
        case DOC_LIST_ITEM: snprintf(tag, sizeof tag, "LI%u", b->level); break;
        case DOC_TABLE_ROW: snprintf(tag, sizeof tag, "ROW%u", b->level); break;
        }
        if (b->page)
            printf("p%-4u %-6s %s\n", b->page, tag, b->text);
        else
            printf("      %-6s %s\n", tag, b->text);
    }
}

static void print_tsv(const char *file, const struct doc *d)
{
    for (size_t i = 0; i < d->nblocks; i++) {
        const struct doc_block *b = &d->blocks[i];
        put_escaped(file);
        printf("\t%zu\t%u\t%s\t%u\t", i, b->page, doc_block_kind_name(b->kind), b->level);
        put_escaped(b->heading_path);
        putchar('\t');
        put_escaped(b->text);
        putchar('\n');
    }
}

int main(int argc, char **argv)
{
    struct doc_limits lim = doc_limits_default();
    int tsv = 0, first = 1, failed = 0, files = 0;
    for (; first < argc && argv[first][0] == '-' && argv[first][1]; first++) {
        if (!strcmp(argv[first], "--")) {
            first++;
            break;
        } else if (!strcmp(argv[first], "--help") || !strcmp(argv[first], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[first], "--tsv")) {
            tsv = 1;
        } else if (!strcmp(argv[first], "--limit") && first + 1 < argc) {
            if (set_limit(&lim, argv[++first])) {
                fprintf(stderr, "doc-extract: bad limit '%s'\n", argv[first]);
                return 2;
            }
        } else {
            fprintf(stderr, "doc-extract: unknown option '%s'\n", argv[first]);
            usage(stderr);
            return 2;
        }
    }
    for (int i = first; i < argc; i++, files++) {
        struct doc d;
        char msg[512];
        enum lair_err e = doc_extract_file(argv[i], &lim, &d, msg, sizeof msg);
        if (e) {
            fprintf(stderr, "%s: error: %s (%s)\n", argv[i], msg, lair_err_name(e));
            failed = 1;
            continue;
        }
        if (tsv)
            print_tsv(argv[i], &d);
        else
            print_human(argv[i], &d);
        doc_release(&d);
    }
    if (!files) {
        usage(stderr);
        return 2;
    }
    return failed;
}
