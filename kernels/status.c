#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[1024];

const char *cnn_status_str(cnn_status s)
{
    static const char *const names[CNN_STATUS_COUNT] = {
        [CNN_OK] = "ok",
        [CNN_ERR_INVALID_ARG] = "invalid argument",
        [CNN_ERR_UNSUPPORTED] = "unsupported",
        [CNN_ERR_OUT_OF_MEMORY] = "out of memory",
        [CNN_ERR_BACKEND] = "backend error",
        [CNN_ERR_IO] = "i/o error",
    };
    if ((unsigned)s >= CNN_STATUS_COUNT)
        return "unknown status";
    return names[s];
}

cnn_status cnn_fail(cnn_status s, const char *fmt, ...)
{
    /* Formatted apart first: an argument may be cnn_last_error() itself. */
    char text[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    memcpy(last_error, text, sizeof text);
    return s;
}

const char *cnn_last_error(void)
{
    return last_error;
}

void cnn_clear_error(void)
{
    last_error[0] = '\0';
}
