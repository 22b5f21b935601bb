/* log.h: leveled log lines on stderr, one line per call, safe from any
 * thread (a single fprintf under a lock so lines never interleave).
 * Format: "2026-11-25T14:37:22.123Z erwatchd[info] message". */
#ifndef ERWATCH_LOG_H
#define ERWATCH_LOG_H

#include <stddef.h>

typedef enum { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG } log_level_t;

/* Returns 0, or -1 for an unknown name (error, warn, info, debug). */
int log_parse_level(const char *name, log_level_t *out);
void log_set_level(log_level_t l);
int log_enabled(log_level_t l);
__attribute__((format(printf, 2, 3))) void log_msg(log_level_t l, const char *fmt, ...);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* An error message for the caller: formats into err (errlen bytes, cut to
 * fit) unless err is NULL or errlen 0, the convention of every
 * `char *err, size_t errlen` parameter in the daemon. */
__attribute__((format(printf, 3, 4))) void ew_errf(char *err, size_t errlen, const char *fmt, ...);

/* Wall clock in seconds since the Unix epoch, and a monotonic clock. */
double ew_now(void);
double ew_monotonic(void);

#endif
