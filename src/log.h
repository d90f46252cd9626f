/* Leveled logging to stderr, with journald priority prefixes when stderr is the journal. */
#ifndef EXTEND_SYNCD_LOG_H
#define EXTEND_SYNCD_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

#define LOG_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Set up the log: decides once whether stderr is the journal or a terminal. */
void log_init(const char *progname);

/* Set the level below which messages are dropped before they are formatted. */
void log_set_level(enum log_level level);

/* How many levels -v (positive) or -q (negative) move every level set later. */
void log_set_verbosity(int delta);

/* The current level, so callers can skip work that only feeds debug lines. */
enum log_level log_get_level(void);

/* Parse "error", "warning", "info" or "debug"; returns 0 or -1. */
int log_level_parse(const char *name, enum log_level *out);

void log_msg(enum log_level level, const char *fmt, ...) LOG_PRINTF(2, 3);

/*
 * A line about one run: the run ID is printed first, quoted, and sanitized
 * (an ID read from the queue may contain anything until it is validated).
 */
void log_run(enum log_level level, const char *run_id, const char *fmt, ...) LOG_PRINTF(3, 4);

/*
 * A libpq notice processor (PQsetNoticeProcessor): what the server sends on
 * its own (a warning of a migration, a shutdown) goes to the log as a
 * warning, on one line.
 */
void log_server_message(void *arg, const char *message);

#define log_error(...)   log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
