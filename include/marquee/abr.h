/* marquee/abr.h: public interface of the abr module (included by marquee.h only). */
#ifndef MARQUEE_ABR_H
#define MARQUEE_ABR_H

#endif
