/* Checks before a start: what the configuration names is usable, the database and the API answer. */
#ifndef EXTEND_SYNCD_PREFLIGHT_H
#define EXTEND_SYNCD_PREFLIGHT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define PREFLIGHT_LINE_SIZE 2048

/*
 * What -t checks beyond the file's syntax, without connecting anywhere:
 * database.conninfo parses (libpq's own parser), the directory of
 * log.metrics_file exists and is writable (by this user; run as root, by
 * the units' user), a set api.token_file is readable and holds a key.
 * Returns 0, or -1 with the first problem in err (never the key); what it
 * cannot know goes to warn ("" when nothing).
 */
int preflight_offline(const struct config *cfg, char *err, size_t errlen, char *warn, size_t warnlen)
	__attribute__((warn_unused_result));

/*
 * Connect to the database and describe it in one line: server version,
 * role, the schema's migration version, and whether the role has what the
 * daemon needs.  Returns 0 when the daemon could start with it, -1 when not
 * (line says why).
 */
int preflight_database(const struct config *cfg, char *line, size_t len) __attribute__((warn_unused_result));

/*
 * The discovery sources, as recorded in discovery_state, in one line:
 * those that have never listed a run (a typo in discover.workflow_ids?)
 * and those not swept yet are named.  Call only with discovery on.
 * Returns 0, or -1 when the line says the state could not be read.
 */
int preflight_discover(const struct config *cfg, char *line, size_t len) __attribute__((warn_unused_result));

/*
 * What to do about a connection refused by peer or ident authentication
 * (err as db_connect() gave it), for the command "extend-syncd -c
 * config_path command": into hint, and returns true; false (hint empty)
 * for any other error.
 */
bool preflight_auth_hint(const char *err, const char *config_path, const char *command, char *hint, size_t len);

/*
 * One authenticated request, GET /workflow_runs?maxPageSize=1, with the
 * daemon's own headers and TLS settings, described in one line (never the
 * key).  Returns 0 when the API accepted the key, -1 when not.  libcurl
 * must be initialized.
 */
int preflight_api(const struct config *cfg, char *line, size_t len) __attribute__((warn_unused_result));

#endif
