/* serve.h (internal): what the serving files share (page.c, http.c, log.c, store.c,
 * trend.c). Not part of the public API; tests/serve and bench/serve_* may include it.
 *
 * - The homepage JSON writers: the page builder writes responses straight into core's mq_buf
 *   (the server reuses one buffer per connection), every string through mq_buf_json_str, the
 *   one escaper of the library; per-title JSON is prepared once per catalog and copied.
 */
#ifndef MQ_SERVE_INTERNAL_H
#define MQ_SERVE_INTERNAL_H

#include "core/core.h"

/* Appends title t's JSON members ("id", "name", "year", "genres", without braces). */
void mq__page_title_json(const mq_page_catalog *pc, int32_t t, mq_buf *b);

/* Appends the page's "rows" array ([{"id","name","reason","titles":[...]}]) as JSON. */
void mq__page_json(const mq_page *p, const mq_page_catalog *pc, mq_buf *b);

#endif
