// One double through snprintf, for ss's number formats (`%g`, `%.1f`, sprint_bw's `%.3g`):
// Swift reaches C's variadic printf only through withVaList, whose [CVarArg] array and dynamic
// casts cost more than the formatting itself (about 7,000 instructions a call, callgrind).

#include "CSwstat.h"

#include <stdio.h>

int swstat_format_double(char *buf, size_t size, const char *format, double value) {
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wformat-nonliteral"
    return snprintf(buf, size, format, value);
#pragma clang diagnostic pop
}
