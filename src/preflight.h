/* Checks before a start: what the configuration names is usable, the database and the API answer. */
#ifndef EXTEND_SYNCD_PREFLIGHT_H
#define EXTEND_SYNCD_PREFLIGHT_H

#include <stddef.h>

#include "config.h"

#define PREFLIGHT_LINE_SIZE 1024

/*
 * What -t checks beyond the file's syntax, without connecting anywhere:
 * database.conninfo parses (libpq's own parser), the directory of
 * log.metrics_file exists and is writable, a set api.token_file is
 * readable and holds a key.  Returns 0, or -1 with the first problem in err
 * (never the key).
 */
int preflight_offline(const struct config *cfg, char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Connect to the database and describe it in one line: server version,
 * role, the schema's migration version, and whether the role has what the
 * daemon needs.  Returns 0 when the daemon could start with it, -1 when not
 * (line says why).
 */
int preflight_database(const struct config *cfg, char *line, size_t len) __attribute__((warn_unused_result));

/*
 * One authenticated request, GET /workflow_runs?maxPageSize=1, with the
 * daemon's own headers and TLS settings, described in one line (never the
 * key).  Returns 0 when the API accepted the key, -1 when not.  libcurl
 * must be initialized.
 */
int preflight_api(const struct config *cfg, char *line, size_t len) __attribute__((warn_unused_result));

#endif
