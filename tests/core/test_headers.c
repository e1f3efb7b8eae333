/* test_headers.c: public header hygiene. Every public header (include/marquee.h and
 * include/marquee/NAME.h) compiles on its own, twice in a row (include guards), with
 * `cc -std=c17 -Wall -Wextra -Werror -fsyntax-only` and no -I flag at all (a section finds the
 * sections it needs beside it); marquee.h, which includes them all, also as C++ where a C++
 * compiler is installed (extern "C" blocks). No public header names an internal type or field: core's growable buffer
 * (struct mq_buf), anything with the internal prefix mq__, or a field marked "(internal)". */
#include "../test.h"

MQ_TEST(core_public_headers_compile_alone)
{
    const char *t = mq_test_tmpdir();
    ASSERT_INT_EQ(mq_test_sh("n=0; for h in include/marquee.h include/marquee/*.h; do "
                             "n=$((n+1)); printf '#include \"%%s\"\\n#include \"%%s\"\\n' \"$PWD/$h\" \"$PWD/$h\" > '%s/h.c'; "
                             "${CC:-cc} -std=c17 -Wall -Wextra -Werror -fsyntax-only '%s/h.c' || "
                             "{ echo \"$h does not compile alone\"; exit 1; }; "
                             "if [ \"$h\" = include/marquee.h ] && command -v c++ >/dev/null; then "
                             "c++ -Wall -Wextra -Werror -fsyntax-only -x c++ '%s/h.c' || "
                             "{ echo \"$h does not compile alone as C++\"; exit 1; }; fi; done; "
                             "test $n -ge 9",
                             t, t, t), 0);
}

MQ_TEST(core_public_headers_hold_no_internals)
{
    ASSERT_INT_EQ(mq_test_sh("! grep -nE 'mq_buf|mq__|\\(internal\\)' include/marquee.h include/marquee/*.h"), 0);
}
