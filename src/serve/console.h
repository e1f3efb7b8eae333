/* console.h (internal): the web console that `marquee serve` answers at / and /ui/... (console.c).
 * http.c calls these two from its router; the assets themselves are compiled in from web/ by
 * scripts/embed_web.sh (the generated build/web_assets.c). */
#ifndef MQ_SERVE_CONSOLE_H
#define MQ_SERVE_CONSOLE_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

/* One embedded file: its URL path ("/app.js"), bytes, length and Content-Type. */
typedef struct mq__web_asset {
    const char *path;
    const unsigned char *data;
    size_t len;
    const char *ctype;
} mq__web_asset;

extern const mq__web_asset mq__web_assets[];   /* generated: build/web_assets.c */
extern const int mq__web_n_assets;

/* True for the URLs the console answers: "/", "/ui" and "/ui/...", "/assets/...", "/v1/reports". */
bool mq__console_owns(const char *url);

/* Queues the answer for a console URL on c (GET or HEAD). models: the models directory (read for
 * /v1/reports); may_read: false when reads need the API key and the request lacks it (then
 * /v1/reports answers 401; the static app does not need it). Returns libmicrohttpd's result. */
enum MHD_Result mq__console_answer(struct MHD_Connection *c, const char *url, const char *models,
                                   bool may_read);

#endif
