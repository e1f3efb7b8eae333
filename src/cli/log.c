/* log.c: the CLI's one logging callback (mq_cli_log) and its two formats.
 *
 * Every progress or status line of a command, whether the library sends it through mq_log or
 * the CLI writes it with mq_cli_logf, goes to stderr as one line with a UTC timestamp
 * (milliseconds) and a level. The format is process-wide, chosen once by --log-format before
 * any work starts (the commands are single-shot programs, so one static setting is the whole
 * configuration); lines are written with one fwrite each, so concurrent server threads do not
 * interleave within a line.
 *   text: 2026-12-06T04:33:00.123Z info marquee: serve: listening on ...
 *   json: {"ts": "2026-12-06T04:33:00.123Z", "level": "info", "msg": "serve: listening on ..."}
 */
#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static bool json_format;

static const char *const level_names[] = {"info", "warn", "error"};

static void stamp(char *out, size_t cap)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

static void emit(mq_cli_level level, const char *msg)
{
    char ts[40];
    stamp(ts, sizeof ts);
    /* Build the whole line in memory (a FILE over a heap buffer), then write it at once. */
    char *line = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&line, &len);
    if (!m) return;
    if (json_format) {
        fputs("{\"ts\": ", m);
        mq_json_write_str(m, ts);
        fprintf(m, ", \"level\": \"%s\", \"msg\": ", level_names[level]);
        mq_json_write_str(m, msg);
        fputs("}\n", m);
    } else {
        fprintf(m, "%s %s marquee: %s\n", ts, level_names[level], msg);
    }
    if (fclose(m) == 0 && line) fwrite(line, 1, len, stderr);
    free(line);
}

static void log_line(void *user, const char *line)
{
    (void)user;
    mq_cli_level level = MQ_CLI_INFO;
    if (strncmp(line, "warning: ", 9) == 0) level = MQ_CLI_WARN, line += 9;
    else if (strncmp(line, "error: ", 7) == 0) level = MQ_CLI_ERROR, line += 7;
    emit(level, line);
}

const mq_log mq_cli_log = {log_line, NULL};

void mq_cli_logf(mq_cli_level level, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    emit(level, line);
}

int mq_cli_log_format(const char *cmd, const char *value)
{
    static const char *const formats[] = {"text", "json"};
    if (strcmp(value, "text") == 0 || strcmp(value, "json") == 0) {
        json_format = value[0] == 'j';
        return 0;
    }
    const char *s = mq_cli_suggest(value, formats, 2);
    if (s) return mq_cli_usage_error(cmd, "--log-format: '%s' is not text or json (did you mean '%s'?)", value, s);
    return mq_cli_usage_error(cmd, "--log-format: '%s' is not text or json", value);
}
