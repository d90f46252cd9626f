/* The scheduler: claim due runs, fetch them, store what came back, and decide when each is due again. */
#ifndef EXTEND_SYNCD_LOOP_H
#define EXTEND_SYNCD_LOOP_H

#include "config.h"

enum loop_mode {
	LOOP_FOREVER,		/* until SIGTERM or SIGINT */
	LOOP_ONCE,		/* every run due at start, once */
	LOOP_DRAIN,		/* until nothing is left to do soon */
};

/*
 * Run the daemon with *cfg (which the loop may replace on SIGHUP; the
 * caller frees whatever *cfg is at the end).  The schema must be migrated.
 * Returns the process exit code: 0, or 2 for a runtime failure.
 */
int loop_run(struct config **cfg, const char *config_path, enum loop_mode mode);

#endif
