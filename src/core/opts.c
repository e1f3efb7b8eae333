/* opts.c: how option structs grow without breaking the ABI (the one mechanism every module
 * uses; the rule for users is in include/marquee/core.h).
 *
 * Every options struct a caller fills and passes in starts with `uint32_t struct_size`, set by
 * its exported mq_<x>_init(o, sizeof *o), which the caller compiles with its own sizeof: the
 * library never writes past the caller's storage, even when it is newer than the header the
 * program was built with (mq__opts_fill). An entry point never reads the caller's struct in
 * place: MQ__OPTS_GET (core.h) takes a private copy of the full current layout, which
 *   - starts as this library's defaults (the type's own init),
 *   - refuses struct_size 0 (never initialised: `= {0}`, calloc) and any size outside
 *     [MQ__V1_<type>, this library's sizeof] (garbage, or a program built against a newer
 *     libmarquee) with MQ_EINVAL naming the struct and its init function (mq__opts_check),
 *   - copies the first struct_size bytes over it: an older caller's struct covers the fields
 *     of its release, and the fields appended since keep their defaults (mq__opts_read).
 * MQ__V1_<type> (core.h) is the end of the first released layout's last field and never
 * changes. A field appended later must start at or after the previous release's sizeof (add
 * explicit padding if the last field left a hole), so an older caller's trailing padding is
 * never read as a newer field. NULL stands for all defaults. Outputs (mq_load_opts) go back
 * to the caller only as far as its struct_size (mq__opts_write_back).
 */
#include "core/core.h"

void mq__opts_fill(void *o, size_t size, const void *defaults, size_t full)
{
    if (!o || size < sizeof(uint32_t)) return;
    memset(o, 0, size);
    memcpy(o, defaults, MQ_MIN(size, full));
    uint32_t s = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
    memcpy(o, &s, sizeof s);
}

int mq__opts_check(const void *in, size_t full, size_t min_size, const char *name, mq_err *err)
{
    uint32_t s;
    memcpy(&s, in, sizeof s);
    if (s == 0)
        return mq__err_set(err, MQ_EINVAL, "%s is not initialised (struct_size 0): call "
                           "%s_init(&opts, sizeof opts) before setting its fields", name, name);
    if (s < min_size || s > full)
        return mq__err_set(err, MQ_EINVAL, "%s has struct_size %u, outside the sizes this "
                           "library reads (%zu..%zu): initialise it with %s_init(&opts, sizeof "
                           "opts)%s", name, s, min_size, full, name,
                           s > full ? " (a program built against a newer libmarquee needs "
                                      "that library)" : "");
    return 0;
}

int mq__opts_read(void *o, size_t full, const void *in, size_t min_size, const char *name,
                  mq_err *err)
{
    if (!in) return 0;
    int rc = mq__opts_check(in, full, min_size, name, err);
    if (rc) return rc;
    uint32_t s;
    memcpy(&s, in, sizeof s);
    memcpy(o, in, s);
    uint32_t f = (uint32_t)full;
    memcpy(o, &f, sizeof f);
    return 0;
}

void mq__opts_write_back(void *in, const void *o)
{
    if (!in) return;
    uint32_t s;
    memcpy(&s, in, sizeof s);
    memcpy((char *)in + sizeof s, (const char *)o + sizeof s, s - sizeof s);
}
