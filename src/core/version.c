/* version.c: mq_version(), the version of the library actually loaded. A program compiled
 * against one marquee.h and run with another libmarquee.so can compare MQ_VERSION (compiled
 * in) with mq_version() (the library's); the Python binding reports it as marquee.version(). */
#include "core/core.h"

const char *mq_version(void) { return MQ_VERSION; }
