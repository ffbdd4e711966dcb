/* A disk that fills up, for unit tests: an SQLite VFS over the default one
 * whose files may grow by a budget of bytes in all, after which a write
 * that would make a file longer fails with SQLITE_FULL, as the unix VFS
 * reports ENOSPC. Writes inside a file's current length still succeed, as
 * on a real full disk (a WAL restarted after a checkpoint, pages rewritten
 * in place). Include it in one test file, call full_vfs_install() before
 * opening any database, then full_vfs_budget(bytes) (-1: no limit). */
#ifndef LAIR_TEST_FULL_VFS_H
#define LAIR_TEST_FULL_VFS_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct full_file {
    sqlite3_file base;
    sqlite3_file *real; /* allocated right after this struct */
};

static sqlite3_vfs full_vfs_vfs, *full_vfs_real;
static long long full_vfs_left = -1; /* bytes of growth left; -1: no limit */
static long long full_vfs_refused;   /* writes refused so far */

static sqlite3_file *full_real_file(sqlite3_file *f)
{
    return ((struct full_file *)f)->real;
}

#define FULL_FWD(name, ...) full_real_file(f)->pMethods->name(full_real_file(f), __VA_ARGS__)

static int full_close(sqlite3_file *f)
{
    return full_real_file(f)->pMethods->xClose(full_real_file(f));
}
static int full_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    return FULL_FWD(xRead, p, n, off);
}
static int full_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    sqlite3_int64 size = 0;
    if (full_vfs_left >= 0 && FULL_FWD(xFileSize, &size) == SQLITE_OK && off + n > size) {
        long long grow = (long long)(off + n - size);
        if (grow > full_vfs_left) {
            full_vfs_refused++;
            return SQLITE_FULL;
        }
        full_vfs_left -= grow;
    }
    return FULL_FWD(xWrite, p, n, off);
}
static int full_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return FULL_FWD(xTruncate, size);
}
static int full_sync(sqlite3_file *f, int flags)
{
    return FULL_FWD(xSync, flags);
}
static int full_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return FULL_FWD(xFileSize, size);
}
static int full_lock(sqlite3_file *f, int l)
{
    return FULL_FWD(xLock, l);
}
static int full_unlock(sqlite3_file *f, int l)
{
    return FULL_FWD(xUnlock, l);
}
static int full_check(sqlite3_file *f, int *out)
{
    return FULL_FWD(xCheckReservedLock, out);
}
static int full_fcntl(sqlite3_file *f, int op, void *arg)
{
    return FULL_FWD(xFileControl, op, arg);
}
static int full_sector(sqlite3_file *f)
{
    return full_real_file(f)->pMethods->xSectorSize(full_real_file(f));
}
static int full_devchar(sqlite3_file *f)
{
    return full_real_file(f)->pMethods->xDeviceCharacteristics(full_real_file(f));
}
static int full_shmmap(sqlite3_file *f, int pg, int sz, int extend, void volatile **p)
{
    return FULL_FWD(xShmMap, pg, sz, extend, p);
}
static int full_shmlock(sqlite3_file *f, int off, int n, int flags)
{
    return FULL_FWD(xShmLock, off, n, flags);
}
static void full_shmbarrier(sqlite3_file *f)
{
    full_real_file(f)->pMethods->xShmBarrier(full_real_file(f));
}
static int full_shmunmap(sqlite3_file *f, int del)
{
    return FULL_FWD(xShmUnmap, del);
}
static int full_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **p)
{
    return FULL_FWD(xFetch, off, n, p);
}
static int full_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return FULL_FWD(xUnfetch, off, p);
}

static const sqlite3_io_methods full_methods = {
    .iVersion = 3,
    .xClose = full_close,
    .xRead = full_read,
    .xWrite = full_write,
    .xTruncate = full_truncate,
    .xSync = full_sync,
    .xFileSize = full_size,
    .xLock = full_lock,
    .xUnlock = full_unlock,
    .xCheckReservedLock = full_check,
    .xFileControl = full_fcntl,
    .xSectorSize = full_sector,
    .xDeviceCharacteristics = full_devchar,
    .xShmMap = full_shmmap,
    .xShmLock = full_shmlock,
    .xShmBarrier = full_shmbarrier,
    .xShmUnmap = full_shmunmap,
    .xFetch = full_fetch,
    .xUnfetch = full_unfetch,
};

static int full_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    (void)vfs;
    struct full_file *ff = (struct full_file *)f;
    ff->real = (sqlite3_file *)(ff + 1);
    memset(ff->real, 0, (size_t)full_vfs_real->szOsFile);
    int rc = full_vfs_real->xOpen(full_vfs_real, name, ff->real, flags, out);
    ff->base.pMethods = rc == SQLITE_OK && ff->real->pMethods ? &full_methods : NULL;
    return rc;
}

/* Makes the wrapper the default VFS. Idempotent. */
static void full_vfs_install(void)
{
    if (full_vfs_real)
        return;
    full_vfs_real = sqlite3_vfs_find(NULL);
    full_vfs_vfs = *full_vfs_real;
    full_vfs_vfs.zName = "lair-test-full";
    full_vfs_vfs.szOsFile = (int)sizeof(struct full_file) + full_vfs_real->szOsFile;
    full_vfs_vfs.xOpen = full_open;
    full_vfs_vfs.pNext = NULL;
    sqlite3_vfs_register(&full_vfs_vfs, 1);
}

/* From now on files may grow by bytes in all (-1: no limit). */
static void full_vfs_budget(long long bytes)
{
    full_vfs_left = bytes;
    full_vfs_refused = 0;
}

#endif
