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

/* Module boundaries: a file includes another module's internal header ("<module>/<name>.h"
 * under src/) only when it belongs to that module: src/<module>/, tests/<module>/ or
 * bench/<module>_*. core/core.h, the shared base, may be included by all. Lists every
 * violation it finds. */
MQ_TEST(core_no_file_includes_another_modules_internal_header)
{
    ASSERT_INT_EQ(mq_test_sh(
        "grep -H '^#include \"[a-z0-9_]*/[a-z0-9_]*\\.h\"' src/*/*.[ch] tests/*/*.[ch] bench/*.[ch] fuzz/*.c "
        "| awk -v mods=\" $(ls src | tr '\\n' ' ')\" '"
        "{ split($0, a, \":\"); f = a[1]; h = $0; sub(/^[^\"]*\"/, \"\", h); sub(/\\/.*/, \"\", h);"
        "  n = split(f, p, \"/\"); own = p[2]; if (p[1] == \"bench\") { own = p[2]; sub(/_.*/, \"\", own) }"
        "  if (h != \"core\" && h != own && !(own == \"rank\" && h == \"models\") && !(own == \"sim\" && (h == \"models\" || h == \"serve\")) && index(mods, \" \" h \" \")) { print f \" includes an internal header of module \" h; bad = 1 } }"
        " END { exit bad }'"), 0);
}
