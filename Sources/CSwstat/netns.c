// setns(2) for --netns: glibc declares it only under _GNU_SOURCE, which Swift's Glibc module
// does not see.

#ifndef _GNU_SOURCE
#error "_GNU_SOURCE must be defined (Package.swift cSettings)"
#endif

#include "CSwstat.h"

#include <errno.h>
#include <sched.h>

int swstat_enter_netns(int fd) {
    return setns(fd, CLONE_NEWNET) == 0 ? 0 : -errno;
}
