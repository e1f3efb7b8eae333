/* marquee/eval.h: public interface of the eval module (included by marquee.h only). */
#ifndef MARQUEE_EVAL_H
#define MARQUEE_EVAL_H

#endif
