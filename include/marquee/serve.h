/* marquee/serve.h: public interface of the serve module (included by marquee.h only). */
#ifndef MARQUEE_SERVE_H
#define MARQUEE_SERVE_H

#endif
