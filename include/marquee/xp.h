/* marquee/xp.h: public interface of the xp module (included by marquee.h only). */
#ifndef MARQUEE_XP_H
#define MARQUEE_XP_H

#endif
