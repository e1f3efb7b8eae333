/* marquee/stats.h: public interface of the stats module (included by marquee.h only). */
#ifndef MARQUEE_STATS_H
#define MARQUEE_STATS_H

#endif
