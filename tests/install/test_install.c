/* test_install.c: the library as others get it: what libmarquee.so exports, `make install`
 * into a temporary DESTDIR with a program built against it by pkg-config (shared and static),
 * man pages and bash completion (tests/install/install.sh), and the Python binding
 * (python/marquee/, checked against the command and numpy by tests/install/binding.py).
 *
 * The build under test is the folder of $MQ_BIN (build/ or build-asan/). Under ASan the
 * install and Python tests skip: a program linked without -fsanitize cannot use the
 * instrumented libmarquee.a, nor can /usr/bin/python3 load the instrumented .so.
 */
#include "../test.h"

#include <libgen.h>
#include <stdlib.h>


/* The build folder of the binary under test ("build"). Returns a static buffer. */
static const char *build_dir(void)
{
    static char dir[1024];
    snprintf(dir, sizeof dir, "%s", mq_test_bin());
    return dirname(dir);
}

MQ_TEST(install_shared_library_exports_public_api_only)
{
    ASSERT_INT_EQ(mq_test_sh("bash tests/install/exports.sh %s", build_dir()), 0);
}

MQ_TEST(install_destdir_pkg_config_static_and_shared)
{
    if (MQ_TEST_ASAN) MQ_SKIP("a program without -fsanitize cannot link the ASan build");
    ASSERT_INT_EQ(mq_test_sh("bash tests/install/install.sh %s %s", build_dir(), mq_test_tmpdir()), 0);
}

MQ_TEST(install_python_binding_matches_command_and_numpy)
{
    if (MQ_TEST_ASAN) MQ_SKIP("python3 cannot load the ASan-instrumented libmarquee.so");
    const char *u = mq_test_shared("ml-100k/u.data");
    if (!u) MQ_SKIP("../shared/data/ml-100k/u.data is absent");
    char data[1024];
    snprintf(data, sizeof data, "%s", u);
    ASSERT_INT_EQ(mq_test_sh("PYTHONPATH=python MARQUEE_LIB=%s/libmarquee.so.0 /usr/bin/python3 "
                             "tests/install/binding.py %s %s %s", build_dir(), mq_test_bin(),
                             mq_test_tmpdir(), data), 0);
}
