/* fuzz/fuzz_io.h: where the fuzz targets put their input for APIs that read files, without
 * per-input file-system work (shared by the fuzz/fuzz_*.c targets; static functions).
 *
 * Speed matters: libFuzzer finds more the more inputs it runs, and writing each input to a file
 * in /tmp (open with O_TRUNC, write, close, then the library's open) cost more than most of the
 * parsing it fed. So a single-file target writes each input into one anonymous memory file
 * (memfd_create, made once per process) and hands the library its /proc/self/fd path; a target
 * that needs a directory of files (the loaders' file names, ABR's video_size_N) gets one in
 * /dev/shm (tmpfs: no disk, fsync is free), falling back to /tmp. */
#ifndef MQ_FUZZ_IO_H
#define MQ_FUZZ_IO_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The input as a file: a path valid until the next call, or NULL if no memory file can be made. */
__attribute__((unused)) static const char *fuzz_memfile(const uint8_t *p, size_t n)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("mqfuzz", MFD_CLOEXEC);
        if (fd < 0) return NULL;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0) return NULL;
    for (size_t off = 0; off < n;) {
        ssize_t w = pwrite(fd, p + off, n - off, (off_t)off);
        if (w <= 0) return NULL;
        off += (size_t)w;
    }
    return path;
}

/* A private scratch directory (made once per process) on tmpfs where there is one. */
__attribute__((unused)) static const char *fuzz_dir(const char *tag)
{
    static char dir[96];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/dev/shm/mqfuzz_%s.%d", tag, (int)getpid());
        if (mkdir(dir, 0700) != 0 && access(dir, W_OK) != 0) {
            snprintf(dir, sizeof dir, "/tmp/mqfuzz_%s.%d", tag, (int)getpid());
            mkdir(dir, 0700);
        }
    }
    return dir;
}

#endif
