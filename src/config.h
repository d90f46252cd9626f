/* The configuration file: keys, defaults, range checks, and the API key's sources. */
#ifndef EXTEND_SYNCD_CONFIG_H
#define EXTEND_SYNCD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"

struct config {
	char *path;			/* the file it was read from */
	struct {
		char *base_url;
		char *version;
		char *workspace_id;
		char *token_file;
		double rate_limit;
		int max_in_flight;
		double timeout;
		long long max_response_size;
	} api;
	struct {
		char *conninfo;
		char *schema;
		char *extracted_schema;	/* where the typed view of each extractor goes */
		bool auto_migrate;
	} database;
	struct {
		int claim_batch;
		long long max_pending_bytes;	/* results waiting in memory, and transfers in flight */
		double idle_poll;
		double lease;
		double active_poll_min;
		double active_poll_max;
		double review_poll;
		double retry_min;
		double retry_max;
		int max_attempts;
		bool store_file_contents;
		int history_days;	/* run_status_history rows older than this go (the latest of a run stays); 0: kept */
	} sync;
	struct {
		enum log_level level;
		char *metrics_file;	/* Prometheus text file, "" for none */
	} log;
	struct {
		char **workflow_ids;	/* NULL-terminated; sources "workflow:<id>" */
		bool all_runs;		/* the source "all" */
		double interval;
		char *since;		/* RFC 3339, "" for none */
		double overlap;
		int page_size;
		double recheck_active;	/* a covered run in motion: fetched at least this often */
		double recheck_parked;	/* a covered parked run: fetched at least this often */
	} discover;
};

#define CONFIG_ERR_SIZE 512

/*
 * Read and check the file at path.  Returns a new config the caller frees
 * with config_free(), or NULL with a message naming the file, line and key
 * in err.
 */
struct config *config_load(const char *path, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* A config with every default, for tests and --help. Caller frees. */
struct config *config_defaults(void) __attribute__((warn_unused_result));

void config_free(struct config *cfg);

/* Give cfg the database settings of old (a reload cannot change them). */
void config_keep_database(struct config *cfg, struct config *old);

/* Give cfg the log.metrics_file of old (its lock is taken at start: see metrics_lock()). */
void config_keep_metrics_file(struct config *cfg, struct config *old);

/*
 * For a SIGHUP: the configuration at path and its API key (*keyp, freed
 * with config_free_api_key()), or NULL with err set when either cannot be
 * read.
 */
struct config *config_reload(const char *path, char **keyp, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Whether cfg's database settings differ from old's (only a restart applies them: the schema must be migrated). */
bool config_database_changed(const struct config *cfg, const struct config *old);

/* Wipe and free an API key; accepts NULL. */
void config_free_api_key(char *key);

/*
 * Find the API key: api.token_file, then $CREDENTIALS_DIRECTORY/extend-api-key,
 * then $EXTEND_API_KEY.  Returns a new string the caller frees (and should
 * wipe), or NULL with a message in err that never contains the key.
 */
char *config_load_api_key(const struct config *cfg, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * Move EXTEND_API_KEY out of the environment (wiped in place, then unset),
 * keeping a private copy that config_load_api_key() uses from then on, so
 * that /proc/PID/environ and child processes do not show the key.  Returns
 * 0 (also when it is not set) or -1 when out of memory (the variable then
 * stays).
 */
int config_hide_env_key(void) __attribute__((warn_unused_result));

/* True when url's host is a loopback address (plain http is allowed only there). */
bool config_url_is_loopback(const char *url);

/*
 * url as it may be logged: a user and password in it
 * (https://user:secret@proxy/) written "***"; url itself when it has none,
 * else buf (len bytes).
 */
const char *config_url_for_log(const char *url, char *buf, size_t len);

#endif
