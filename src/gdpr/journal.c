/* The erasure journal beside each tenant's database (gdpr/journal.h). */
#include "gdpr/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/db.h"
#include "core/banned.h"

#define LINE_MAX_BYTES 128

static bool token_valid(const char *t, size_t n)
{
    if (n != 3 + 32 || memcmp(t, "sh_", 3) != 0)
        return false;
    for (size_t i = 3; i < n; i++)
        if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
            return false;
    return true;
}

static enum lair_err sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return LAIR_EIO;
    int rc = fsync(fd);
    close(fd);
    return rc == 0 ? LAIR_OK : db_file_err(errno);
}

enum lair_err gdpr_journal_append(const char *tenant_dir, const char *token, int64_t ts)
{
    if (!token || !token_valid(token, strlen(token)))
        return LAIR_EINVAL;
    char path[4400], line[LINE_MAX_BYTES];
    int n = snprintf(path, sizeof(path), "%s/" GDPR_JOURNAL_NAME, tenant_dir);
    if (n < 0 || (size_t)n >= sizeof(path))
        return LAIR_EINVAL;
    int len = snprintf(line, sizeof(line), "v1 %" PRId64 " %s\n", ts, token);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return db_file_err(errno);
    struct stat st;
    bool created = fstat(fd, &st) == 0 && st.st_size == 0;
    enum lair_err e = LAIR_OK;
    ssize_t w;
    do
        w = write(fd, line, (size_t)len);
    while (w < 0 && errno == EINTR);
    if (w != len)
        e = db_file_err(w < 0 ? errno : ENOSPC);
    if (!e && fsync(fd) != 0)
        e = db_file_err(errno);
    if (close(fd) != 0 && !e)
        e = db_file_err(errno);
    if (!e && created)
        e = sync_dir(tenant_dir);
    return e;
}

/* One line without its newline: "v1 <ts> <token>". */
static bool parse_line(const char *s, size_t n, struct gdpr_journal_entry *out)
{
    if (n < 4 || n >= LINE_MAX_BYTES || memcmp(s, "v1 ", 3) != 0)
        return false;
    char buf[LINE_MAX_BYTES];
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end;
    errno = 0;
    long long ts = strtoll(buf + 3, &end, 10);
    if (errno || end == buf + 3 || *end != ' ' || ts < 0)
        return false;
    const char *tok = end + 1;
    size_t tn = n - (size_t)(tok - buf);
    if (!token_valid(tok, tn))
        return false;
    out->ts = ts;
    memcpy(out->token, tok, tn);
    out->token[tn] = 0;
    return true;
}

enum lair_err gdpr_journal_read(const char *path, uint64_t from,
                                bool (*fn)(void *ctx, const struct gdpr_journal_entry *e),
                                void *ctx, int *bad)
{
    if (bad)
        *bad = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? LAIR_OK : LAIR_EIO;
    if (from && fseeko(f, (off_t)from, SEEK_SET) != 0) {
        fclose(f);
        return LAIR_EIO;
    }
    char line[LINE_MAX_BYTES + 2];
    bool go = true;
    while (go && fgets(line, sizeof(line), f)) {
        size_t n = strlen(line);
        if (n == 0 || line[n - 1] != '\n') {
            /* too long (skip the rest of it) or the unfinished last line */
            int c = 0;
            bool had_end = false;
            while ((c = fgetc(f)) != EOF)
                if (c == '\n') {
                    had_end = true;
                    break;
                }
            if (had_end && bad)
                (*bad)++;
            continue;
        }
        struct gdpr_journal_entry e;
        if (parse_line(line, n - 1, &e))
            go = fn(ctx, &e);
        else if (bad)
            (*bad)++;
    }
    bool err = ferror(f) != 0;
    fclose(f);
    return err ? LAIR_EIO : LAIR_OK;
}

enum lair_err gdpr_journal_length(const char *path, uint64_t *out)
{
    *out = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? LAIR_OK : LAIR_EIO;
    char b[65536];
    uint64_t off = 0, last = 0;
    for (;;) {
        ssize_t r = read(fd, b, sizeof(b));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            close(fd);
            return LAIR_EIO;
        }
        if (r == 0)
            break;
        for (ssize_t i = 0; i < r; i++)
            if (b[i] == '\n')
                last = off + (uint64_t)i + 1;
        off += (uint64_t)r;
    }
    close(fd);
    *out = last;
    return LAIR_OK;
}
