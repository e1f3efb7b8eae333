/* seglog.h: internal header of the serve module's segment files (seglog.c), shared by the
 * event log (log.c) and the exposure log (exposure.c). Not part of the public API. */
#ifndef MQ_SERVE_SEGLOG_H
#define MQ_SERVE_SEGLOG_H

#include "core/core.h"

#define MQ__SEG_HDR 16          /* magic[8] | u64 first sequence */
#define MQ__SEG_REC_HDR 8       /* u32 len | u32 crc */
#define MQ__SEG_BAD (-100000)   /* a record callback's answer: fields inconsistent (*why) */

void mq__put_u32(unsigned char *p, uint32_t v);
void mq__put_u64(unsigned char *p, uint64_t v);
uint32_t mq__get_u32(const unsigned char *p);
uint64_t mq__get_u64(const unsigned char *p);

/* What kind of log a directory holds. */
typedef struct mq__seg_fmt {
    const char *magic;          /* 8 bytes */
    const char *what;           /* "event log", for messages */
    uint32_t min_len, max_len;  /* payload length bounds */
    bool quiet_zero_tail;       /* a zero tail is preallocation, not a torn record: no log line */
} mq__seg_fmt;

/* Called for each record whose frame and CRC are good, in sequence order: 0 to go on,
 * MQ__SEG_BAD (with *why) when the payload's fields are inconsistent (then torn-tail rules
 * apply), any other value stops the scan and is returned. */
typedef int (*mq__seg_rec_fn)(void *user, const unsigned char *payload, uint32_t len,
                              uint64_t seq, const char **why);

typedef struct mq__seg_scan_out {
    uint64_t next_seq;          /* sequence after the last good record */
    uint64_t last_first;        /* first sequence of the last segment (0: none) */
    int64_t last_len;           /* its good length */
    uint64_t segments;
    int64_t bytes;              /* good bytes in all segments */
    uint64_t truncated_bytes;   /* cut by repair */
} mq__seg_scan_out;

/* Frames the payload already at rec + MQ__SEG_REC_HDR (len bytes): writes len and the
 * CRC-32C in front; returns the record's size. */
size_t mq__seg_frame(unsigned char *rec, uint32_t len);
/* Writes a 16-byte segment header. */
void mq__seg_header(unsigned char *h, const char *magic, uint64_t first);
void mq__seg_path(char *out, size_t cap, const char *dir, uint64_t first);
/* The first sequences of dir's segments, ascending (*first malloc'd, caller frees). */
int mq__seg_list(const char *dir, const char *what, uint64_t **first, int *n, mq_err *err);
/* Reads every segment of dir in order (recovery rules atop seglog.c); with repair a torn tail
 * is truncated (and reported through log). */
int mq__seg_scan(const char *dir, const mq__seg_fmt *f, mq__seg_rec_fn fn, void *user,
                 bool repair, const mq_log *log, mq__seg_scan_out *out, mq_err *err);
int mq__mkdir_p(const char *dir, mq_err *err);
int mq__fsync_dir(const char *dir, mq_err *err);

#endif
