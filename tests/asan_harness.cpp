// The sanitizer build's integration cases: the plain build's harness, run against this
// build's sanitized server. The harness only talks to the server (a process of its own)
// over sockets and is unsanitized in either build, so the sanitizer build need not compile
// it again. Every argument goes through, so
// ctest and catch_discover_tests use this as they would the harness itself.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
    (void)argc;
    setenv("HARNESS_SERVER_BIN", PUSHWIRE_SERVER_BIN, 1);
    setenv("HARNESS_SERVER_SANITIZED", "1", 1);
    char harness[] = PUSHWIRE_PLAIN_HARNESS;
    argv[0] = harness;
    execv(harness, argv);
    std::fprintf(stderr, "asan_harness: cannot run %s: %s (build the plain tree's integration_tests first)\n", harness,
                 std::strerror(errno));
    return 127;
}
