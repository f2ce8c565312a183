#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "process_start.h"

/// Runs before main and before the Swift runtime makes its own descriptors
/// (an async main's executor opens an eventfd and an epoll instance at
/// once): a standard descriptor that the caller left closed (`>&-`) is
/// opened on /dev/null, read-only. Otherwise the lowest free number, 0, 1
/// or 2, goes to the next open: the runtime's eventfd took 1, and the
/// report then went to it (EINVAL); a file the tool opened could take it
/// and receive the report. Read-only, a write to such a standard output or
/// error fails as on a closed one (EBADF: "cannot write standard output",
/// 74), and a read of such a standard input finds an empty stream.
/// Where /dev/null cannot be opened, the descriptor stays closed.
__attribute__((constructor)) static void buildos_clean_open_closed_standard_descriptors(void) {
    for (int descriptor = 0; descriptor <= 2; descriptor++) {
        if (fcntl(descriptor, F_GETFD) != -1 || errno != EBADF) continue;
        int opened = open("/dev/null", O_RDONLY);
        if (opened < 0) return;
        if (opened != descriptor) {
            dup2(opened, descriptor);
            close(opened);
        }
    }
}
