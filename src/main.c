/* Start-up and shutdown: options, configuration, schema, then the loop. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <curl/curl.h>

#include "preflight.h"
#include "config.h"
#include "db.h"
#include "discover.h"
#include "extracted.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "wait.h"
#include "notify.h"
#include "queue.h"
#include "schedule.h"
#include "sweep.h"
#include "timing.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0"
#endif

#define EXIT_USAGE 1
#define EXIT_RUNTIME 2

enum action {
	ACTION_RUN,
	ACTION_CHECK,
	ACTION_CHECK_CONNECTION,
	ACTION_MIGRATE,
	ACTION_ENQUEUE,
	ACTION_DISCOVER,
	ACTION_ENQUEUE_WORKFLOW,
	ACTION_ENQUEUE_BATCH,
	ACTION_REFRESH_VIEWS,
	ACTION_RETRY_FAILED,
};

enum {
	OPT_MIGRATE = 256,
	OPT_ENQUEUE,
	OPT_ONCE,
	OPT_DRAIN,
	OPT_DISCOVER,
	OPT_ENQUEUE_WORKFLOW,
	OPT_ENQUEUE_BATCH,
	OPT_TIMEOUT,
	OPT_CHECK_CONNECTION,
	OPT_REFRESH_VIEWS,
	OPT_RETRY_FAILED,
};

static void
usage(FILE *out)
{
	fprintf(out,
		"extend-syncd keeps a PostgreSQL database in step with Extend workflow runs.\n"
		"\n"
		"Usage: extend-syncd [OPTION]...\n"
		"       extend-syncd [OPTION]... --enqueue ID... | -\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE     configuration file (default %s/extend-syncd.conf)\n"
		"  -t, --check-config    check the configuration, print \"configuration OK\" or what is wrong\n"
		"      --check-connection  -t, then connect to the database and make one API request: a line each\n"
		"      --migrate         apply pending schema migrations and exit\n"
		"      --refresh-views   rebuild every extracted view from what is stored, print one line each, exit\n"
		"      --enqueue ID...   queue run IDs (or make them due again) and exit; \"-\" reads IDs from stdin\n"
		"      --retry-failed [ID...]  make every failed run (or these) pending and due now, print how many\n"
		"      --once            fetch every run that is due now, once, then exit\n"
		"      --drain           run until every queued run is done, failed or parked, then exit\n"
		"      --discover        sweep every discovery source once, print what it found, exit\n"
		"      --enqueue-workflow ID...  enqueue every run of these workflows (updated since discover.since)\n"
		"      --enqueue-batch ID...     enqueue every run of these batches\n"
		"      --timeout SECONDS with --drain or --once: give up after this long, name the runs still waiting\n"
		"  -v, --verbose         log more (repeatable)\n"
		"  -q, --quiet           log less (repeatable)\n"
		"  -V, --version         print the version and exit\n"
		"  -h, --help            print this help and exit\n"
		"\n"
		"The API key is read from api.token_file, $CREDENTIALS_DIRECTORY/extend-api-key,\n"
		"or $EXTEND_API_KEY, never from the command line.\n"
		"Exit status: 0 success, 1 usage or configuration error, 2 runtime failure, 3 --timeout expired,\n"
		"4 runs ended failed during --drain, 5 --drain or --once stopped by a signal.\n",
		SYSCONFDIR);
}

/*
 * Connect and bring the schema up to date (or check it is, without
 * auto_migrate).  With away (the daemon), a failure because the database
 * cannot be reached now (db_unreachable(), the connection lost while
 * migrating or checking, the check's lock_timeout or statement_timeout:
 * DB_CHECK_TIMED_OUT) is not logged: its reason goes into away for the caller,
 * which waits; any other failure (and every one without away) is logged,
 * and away is left empty.
 */
static PGconn *
connect_database(const struct config *cfg, bool migrate, char *away, size_t awaylen)
{
	char err[DB_ERR_SIZE], hint[1024];
	PGconn *conn = db_connect(cfg->database.conninfo, cfg->database.schema, err, sizeof(err));
	int applied = 0, checked;

	if (away != NULL)
		away[0] = '\0';
	if (conn == NULL) {
		if (wait_stops() > 0) {
			log_info("stopping: a signal came while connecting to the database");
		} else if (away != NULL && db_unreachable(err)) {
			snprintf(away, awaylen, "%s", err);
			return NULL;
		} else {
			log_error("could not connect to the database: %s", err);
		}
		if (preflight_auth_hint(err, cfg->path, "...", hint, sizeof(hint)))
			log_error("%s", hint);
		return NULL;
	}
	/* a migration's warnings (a table it left as it was) reach the log */
	PQsetNoticeProcessor(conn, log_server_message, NULL);
	if (migrate) {
		if (db_migrate(conn, cfg->database.schema, &applied, err, sizeof(err)) < 0) {
			/* abandoned by the signal: the server rolls back a migration it was in */
			if (wait_stops() > 0)
				log_info("stopping: a signal came while migrating schema \"%s\"", cfg->database.schema);
			else if (away != NULL && db_broken(conn))
				snprintf(away, awaylen, "%s", err);
			else
				log_error("could not migrate schema \"%s\": %s", cfg->database.schema, err);
			goto fail;
		}
		if (applied > 0)
			log_info("schema \"%s\": applied %d migration%s", cfg->database.schema, applied,
				 applied == 1 ? "" : "s");
	} else if ((checked = db_check_version(conn, cfg->database.schema, err, sizeof(err))) < 0) {
		/* a session holding schema_migrations (VACUUM FULL, a migration's ALTER) is waited out too */
		if (wait_stops() > 0)
			log_info("stopping: a signal came while checking schema \"%s\"", cfg->database.schema);
		else if (away != NULL && (db_broken(conn) || checked == DB_CHECK_TIMED_OUT))
			snprintf(away, awaylen, "%s", err);
		else
			log_error("%s", err);
		goto fail;
	}
	return conn;
fail:
	PQfinish(conn);
	return NULL;
}

/* Connect and bring the schema up to date (or check it is, without auto_migrate); failures are logged. */
static PGconn *
open_database(const struct config *cfg, bool migrate)
{
	return connect_database(cfg, migrate, NULL, 0);
}

/*
 * The daemon's start-up: connect and migrate as open_database() does, but
 * while the database cannot be reached, wait for it (START_RETRY_MIN
 * doubling up to START_RETRY_MAX) instead of exiting, as pgbouncer does:
 * said once in the log (a lasting failure, repeated every REPEAT_LOG), in
 * STATUS= all along, the watchdog pinged.  READY=1 goes out when the wait
 * begins: the service is up and says what it waits for, and neither
 * "systemctl start" nor the units after it hang on the database, nor does
 * TimeoutStartSec end it.  Returns NULL on another failure (logged) or
 * when a SIGTERM or SIGINT came.
 */
static PGconn *
wait_for_database(const struct config *cfg)
{
	struct log_lasting waiting = { 0 };
	char why[DB_ERR_SIZE];
	double delay = START_RETRY_MIN;
	int tries = 0;
	PGconn *conn;

	for (;;) {
		conn = connect_database(cfg, cfg->database.auto_migrate, why, sizeof(why));
		if (conn != NULL || why[0] == '\0')
			break;
		tries++;
		if (waiting.since == 0)
			(void)notify_send("READY=1");
		log_lasting_fail(&waiting, "waiting for the database: %s (trying again every %.0fs at most; SIGTERM "
				 "ends the wait)", why, START_RETRY_MAX);
		log_debug("could not connect to the database (try %d, next in %.0fs): %s", tries, delay, why);
		(void)notify_send("STATUS=waiting for the database: %s", why);
		if (wait_pause(delay) < 0) {
			log_info("stopping: a signal came while waiting for the database");
			break;
		}
		delay = fmin(delay * 2, START_RETRY_MAX);
	}
	if (conn != NULL)
		log_lasting_ok(&waiting, "the database answers");
	return conn;
}

/*
 * --refresh-views: every extractor's views made anew in
 * database.extracted_schema from what is stored, a line each and a total.
 * Each extractor in a transaction of its own: the rebuild holds its lock,
 * which the stores of its runs wait for, and those of the others go on.
 */
static int
refresh_views(const struct config *cfg)
{
	const char *schema = cfg->database.extracted_schema;
	long long columns = 0, children = 0, versions = 0;
	char err[DB_ERR_SIZE];
	PGconn *conn = open_database(cfg, cfg->database.auto_migrate);
	PGresult *ids = NULL;
	int rc = EXIT_RUNTIME, n = 0;

	if (conn == NULL)
		return EXIT_RUNTIME;
	if (extracted_create_schema(conn, schema, err, sizeof(err)) < 0) {
		log_error("%s", err);
		goto out;
	}
	ids = extracted_record(conn, err, sizeof(err));
	if (ids == NULL) {
		log_error("could not record the extractor versions stored: %s", err);
		goto out;
	}
	for (int k = 0; k < PQntuples(ids); k++) {
		const char *id = PQgetvalue(ids, k, 0);
		PGresult *res = extracted_refresh(conn, schema, false, id, err, sizeof(err));

		if (res == NULL) {
			log_error("could not refresh the extracted views of extractor \"%s\" in schema \"%s\": %s (the %d "
				  "views rebuilt before it stay rebuilt)", id, schema, err, n);
			goto out;
		}
		for (int i = 0; i < PQntuples(res); i++, n++) {
			printf("%s.%s: extractor %s, %s columns, %s child views, %s versions\n", schema,
			       PQgetvalue(res, i, 1), PQgetvalue(res, i, 0), PQgetvalue(res, i, 2),
			       PQgetvalue(res, i, 3), PQgetvalue(res, i, 4));
			columns += atoll(PQgetvalue(res, i, 2));
			children += atoll(PQgetvalue(res, i, 3));
			versions += atoll(PQgetvalue(res, i, 4));
		}
		PQclear(res);
		fflush(stdout);
	}
	printf("refreshed %d extracted view%s in schema \"%s\": %lld columns, %lld child views, %lld versions\n", n,
	       n == 1 ? "" : "s", schema, columns, children, versions);
	rc = 0;
out:
	PQclear(ids);
	PQfinish(conn);
	return rc;
}

/* IDs sent to the database per statement by --enqueue. */
#define ENQUEUE_CHUNK 10000

/* The valid IDs of --enqueue not sent yet, and what became of those seen. */
struct enqueue_batch {
	PGconn *conn;
	char *ids[ENQUEUE_CHUNK];
	size_t n;
	long long done, invalid;
};

/* Send the batch's IDs in one statement; returns 0, or -1 on a database error (reported). */
static int
enqueue_flush(struct enqueue_batch *b)
{
	char err[DB_ERR_SIZE];
	int rc = queue_enqueue_many(b->conn, (const char *const *)b->ids, b->n, err, sizeof(err));

	if (rc < 0)
		log_error("could not enqueue: %s", err);
	else
		b->done += (long long)b->n;
	for (size_t i = 0; i < b->n; i++)
		free(b->ids[i]);
	b->n = 0;
	return rc;
}

/* Add one ID to the batch (an invalid one is reported, not added); returns 0, or -1 on a database error. */
static int
enqueue_one(struct enqueue_batch *b, const char *id)
{
	if (!schedule_run_id_valid(id)) {
		log_run(LOG_LEVEL_ERROR, id, "not enqueued: a run ID is 1 to 128 letters, digits, \"_\" or \"-\"");
		b->invalid++;
		return 0;
	}
	b->ids[b->n] = strdup(id);
	if (b->ids[b->n] == NULL) {
		log_error("could not enqueue: out of memory");
		return -1;
	}
	if (++b->n == ENQUEUE_CHUNK)
		return enqueue_flush(b);
	return 0;
}

/* --enqueue: all IDs in one transaction, so a failure enqueues none of them. */
static int
enqueue_ids(const struct config *cfg, char **ids, int nids)
{
	char err[DB_ERR_SIZE];
	struct enqueue_batch *b = calloc(1, sizeof(*b));
	int rc = EXIT_RUNTIME;

	if (b == NULL) {
		log_error("could not enqueue: out of memory");
		return EXIT_RUNTIME;
	}
	b->conn = open_database(cfg, cfg->database.auto_migrate);
	if (b->conn == NULL)
		goto out;
	if (queue_prepare(b->conn, err, sizeof(err)) < 0 || db_exec(b->conn, "BEGIN", err, sizeof(err)) < 0) {
		log_error("could not enqueue: %s", err);
		goto out;
	}
	for (int i = 0; i < nids; i++) {
		if (strcmp(ids[i], "-") == 0) {
			char *line = NULL;
			size_t cap = 0;
			ssize_t len;

			while ((len = getline(&line, &cap, stdin)) >= 0) {
				char *id = line + strspn(line, " \t");

				id[strcspn(id, " \t\r\n")] = '\0';
				if (id[0] == '\0' || id[0] == '#')
					continue;
				if (enqueue_one(b, id) < 0) {
					free(line);
					goto out;
				}
			}
			free(line);
		} else if (enqueue_one(b, ids[i]) < 0) {
			goto out;
		}
	}
	if (enqueue_flush(b) < 0)
		goto out;
	if (db_exec(b->conn, "COMMIT", err, sizeof(err)) < 0) {
		log_error("could not enqueue: %s", err);
		goto out;
	}
	printf("enqueued %lld run%s\n", b->done, b->done == 1 ? "" : "s");
	queue_analyze_after(b->conn, b->done);
	rc = b->invalid > 0 ? EXIT_USAGE : 0;
out:
	for (size_t i = 0; i < b->n; i++)
		free(b->ids[i]);
	PQfinish(b->conn);
	free(b);
	return rc;
}

/*
 * --retry-failed: every failed run, or those named, pending and due now.
 * A named run that is not failed is left as it is and named; one not in
 * the queue at all (a typo?) makes the exit status 1.
 */
static int
retry_failed(const struct config *cfg, char *const *ids, int nids)
{
	char err[DB_ERR_SIZE];
	PGconn *conn = open_database(cfg, cfg->database.auto_migrate);
	PGresult *res;
	long long n;
	int rc = 0;

	if (conn == NULL)
		return EXIT_RUNTIME;
	res = queue_retry_failed(conn, (const char *const *)ids, (size_t)nids, err, sizeof(err));
	if (res == NULL) {
		log_error("could not retry the failed runs: %s", err);
		PQfinish(conn);
		return EXIT_RUNTIME;
	}
	for (int i = 1; i < PQntuples(res); i++) {
		if (PQgetisnull(res, i, 2)) {
			log_run(LOG_LEVEL_ERROR, PQgetvalue(res, i, 1), "not retried: it is not in the queue (--enqueue "
				"adds it)");
			rc = EXIT_USAGE;
		} else {
			log_run(LOG_LEVEL_WARNING, PQgetvalue(res, i, 1), "not retried: it is %s, not failed",
				PQgetvalue(res, i, 2));
		}
	}
	n = atoll(PQgetvalue(res, 0, 3));
	printf("made %lld failed run%s pending, due now\n", n, n == 1 ? "" : "s");
	PQclear(res);
	PQfinish(conn);
	return rc;
}

/* The IDs of --enqueue-workflow / --enqueue-batch: at least one, each fit for a URL. */
static int
check_list_ids(const char *flag, char *const *ids, int nids)
{
	if (nids == 0) {
		fprintf(stderr, "extend-syncd: %s needs IDs\n", flag);
		return -1;
	}
	for (int i = 0; i < nids; i++) {
		if (!schedule_run_id_valid(ids[i])) {
			fprintf(stderr, "extend-syncd: %s: invalid ID \"%.128s\": an ID is 1 to 128 letters, digits, "
				"\"_\" or \"-\"\n", flag, ids[i]);
			return -1;
		}
	}
	return 0;
}

/* --discover, --enqueue-workflow, --enqueue-batch: list runs through the API and queue them. */
static int
list_and_enqueue(const struct config *cfg, enum action action, char *const *ids, int nids)
{
	PGconn *conn;
	int rc;

	if (action == ACTION_DISCOVER && !discover_enabled(cfg)) {
		fprintf(stderr, "extend-syncd: --discover: no discovery source is configured (set discover.workflow_ids "
			"or discover.all_runs in \"%s\")\n", cfg->path);
		return EXIT_USAGE;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("could not initialize libcurl");
		return EXIT_RUNTIME;
	}
	conn = open_database(cfg, cfg->database.auto_migrate);
	if (conn == NULL) {
		rc = EXIT_RUNTIME;
	} else {
		rc = sweep_oneshot(cfg, action == ACTION_DISCOVER ? SWEEP_DISCOVER : SWEEP_ENQUEUE, ids, nids,
				   action == ACTION_ENQUEUE_BATCH, conn);
		PQfinish(conn);
	}
	curl_global_cleanup();
	return rc;
}

/*
 * The daemon's memory goes up and down by a batch of runs every pass: with
 * glibc's defaults the top of the heap is given back to the kernel (and
 * faulted in again, page by page) whenever more than 128 KiB of it is free.
 * Kept up to MALLOC_KEEP instead; blocks up to MALLOC_MMAP_MIN come from the
 * heap too (setting one turns off glibc's own sliding of the other).
 */
#define MALLOC_KEEP (16 * 1024 * 1024)
#define MALLOC_PAD (4 * 1024 * 1024)
#define MALLOC_MMAP_MIN (4 * 1024 * 1024)

static void
tune_malloc(void)
{
	(void)mallopt(M_TRIM_THRESHOLD, MALLOC_KEEP);
	(void)mallopt(M_TOP_PAD, MALLOC_PAD);
	(void)mallopt(M_MMAP_THRESHOLD, MALLOC_MMAP_MIN);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 't' },
		{ "check-connection", no_argument, NULL, OPT_CHECK_CONNECTION },
		{ "migrate", no_argument, NULL, OPT_MIGRATE },
		{ "refresh-views", no_argument, NULL, OPT_REFRESH_VIEWS },
		{ "enqueue", no_argument, NULL, OPT_ENQUEUE },
		{ "retry-failed", no_argument, NULL, OPT_RETRY_FAILED },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "drain", no_argument, NULL, OPT_DRAIN },
		{ "discover", no_argument, NULL, OPT_DISCOVER },
		{ "enqueue-workflow", no_argument, NULL, OPT_ENQUEUE_WORKFLOW },
		{ "enqueue-batch", no_argument, NULL, OPT_ENQUEUE_BATCH },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = SYSCONFDIR "/extend-syncd.conf";
	enum action action = ACTION_RUN;
	enum loop_mode mode = LOOP_FOREVER;
	char err[CONFIG_ERR_SIZE];
	struct config *cfg;
	int verbosity = 0, opt, rc, metrics_fd = -1;
	double timeout = 0;
	char *end;
	PGconn *conn;

	/* no core file, no ptrace by other processes of the same user: memory holds the API key */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (config_hide_env_key() < 0) {
		fprintf(stderr, "extend-syncd: out of memory\n");
		return EXIT_RUNTIME;
	}
	log_init("extend-syncd");
	(void)notify_init();
	while ((opt = getopt_long(argc, argv, "c:tvqVh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 't':
			action = ACTION_CHECK;
			break;
		case OPT_CHECK_CONNECTION:
			action = ACTION_CHECK_CONNECTION;
			break;
		case OPT_MIGRATE:
			action = ACTION_MIGRATE;
			break;
		case OPT_REFRESH_VIEWS:
			action = ACTION_REFRESH_VIEWS;
			break;
		case OPT_ENQUEUE:
			action = ACTION_ENQUEUE;
			break;
		case OPT_RETRY_FAILED:
			action = ACTION_RETRY_FAILED;
			break;
		case OPT_DISCOVER:
			action = ACTION_DISCOVER;
			break;
		case OPT_ENQUEUE_WORKFLOW:
			action = ACTION_ENQUEUE_WORKFLOW;
			break;
		case OPT_ENQUEUE_BATCH:
			action = ACTION_ENQUEUE_BATCH;
			break;
		case OPT_ONCE:
		case OPT_DRAIN:
			if (mode != LOOP_FOREVER) {
				fprintf(stderr, "extend-syncd: --once and --drain cannot be combined\n");
				return EXIT_USAGE;
			}
			mode = opt == OPT_ONCE ? LOOP_ONCE : LOOP_DRAIN;
			break;
		case OPT_TIMEOUT:
			errno = 0;
			timeout = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' || !isfinite(timeout) || timeout <= 0 ||
			    timeout > 1e9) {
				fprintf(stderr, "extend-syncd: --timeout must be a number of seconds above 0 (got \"%s\")\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'v':
			verbosity++;
			break;
		case 'q':
			verbosity--;
			break;
		case 'V':
			printf("extend-syncd %s (%s)\n", PACKAGE_VERSION, curl_version());
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "Try \"extend-syncd --help\" for more information.\n");
			return EXIT_USAGE;
		}
	}
	if (action == ACTION_ENQUEUE && optind >= argc) {
		fprintf(stderr, "extend-syncd: --enqueue needs run IDs, or \"-\" to read them from stdin\n");
		return EXIT_USAGE;
	}
	if (timeout > 0 && (mode == LOOP_FOREVER || action != ACTION_RUN)) {
		fprintf(stderr, "extend-syncd: --timeout needs --drain or --once\n");
		return EXIT_USAGE;
	}
	if ((action == ACTION_ENQUEUE_WORKFLOW || action == ACTION_ENQUEUE_BATCH) &&
	    check_list_ids(action == ACTION_ENQUEUE_BATCH ? "--enqueue-batch" : "--enqueue-workflow",
			   argv + optind, argc - optind) < 0)
		return EXIT_USAGE;
	if (action == ACTION_RETRY_FAILED && optind < argc && check_list_ids("--retry-failed", argv + optind,
									    argc - optind) < 0)
		return EXIT_USAGE;
	if (action != ACTION_ENQUEUE && action != ACTION_ENQUEUE_WORKFLOW && action != ACTION_ENQUEUE_BATCH &&
	    action != ACTION_RETRY_FAILED && optind < argc) {
		fprintf(stderr, "extend-syncd: unexpected argument \"%s\"\n", argv[optind]);
		return EXIT_USAGE;
	}

	cfg = config_load(path, err, sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, "extend-syncd: %s\n", err);
		return EXIT_USAGE;
	}
	log_set_verbosity(verbosity);
	log_set_level(cfg->log.level);

	switch (action) {
	case ACTION_CHECK:
	case ACTION_CHECK_CONNECTION: {
		char *key, line[PREFLIGHT_LINE_SIZE], warn[CONFIG_ERR_SIZE];

		if (preflight_offline(cfg, err, sizeof(err), warn, sizeof(warn)) < 0) {
			fprintf(stderr, "extend-syncd: %s: %s\n", path, err);
			rc = EXIT_USAGE;
			break;
		}
		if (warn[0] != '\0')
			fprintf(stderr, "extend-syncd: warning: %s\n", warn);
		/* a set token_file was read above; other sources may be the service's only */
		key = config_load_api_key(cfg, err, sizeof(err));
		if (key == NULL)
			fprintf(stderr, "extend-syncd: warning: %s\n", err);
		else
			explicit_bzero(key, strlen(key));
		free(key);
		printf("configuration OK\n");
		rc = 0;
		if (action == ACTION_CHECK)
			break;
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			fprintf(stderr, "extend-syncd: could not initialize libcurl\n");
			rc = EXIT_RUNTIME;
			break;
		}
		if (preflight_database(cfg, line, sizeof(line)) < 0)
			rc = EXIT_RUNTIME;
		printf("%s\n", line);
		if (preflight_api(cfg, line, sizeof(line)) < 0)
			rc = EXIT_RUNTIME;
		printf("%s\n", line);
		/* a source that never listed a run is named, not failed: a new workflow may have none yet */
		if (discover_enabled(cfg)) {
			if (preflight_discover(cfg, line, sizeof(line)) < 0)
				rc = EXIT_RUNTIME;
			printf("%s\n", line);
		}
		curl_global_cleanup();
		break;
	}
	case ACTION_MIGRATE:
		conn = open_database(cfg, true);
		rc = conn != NULL ? 0 : EXIT_RUNTIME;
		if (conn != NULL)
			printf("schema \"%s\" is up to date\n", cfg->database.schema);
		PQfinish(conn);
		break;
	case ACTION_ENQUEUE:
		rc = enqueue_ids(cfg, argv + optind, argc - optind);
		break;
	case ACTION_REFRESH_VIEWS:
		rc = refresh_views(cfg);
		break;
	case ACTION_RETRY_FAILED:
		rc = retry_failed(cfg, argv + optind, argc - optind);
		break;
	case ACTION_DISCOVER:
	case ACTION_ENQUEUE_WORKFLOW:
	case ACTION_ENQUEUE_BATCH:
		rc = list_and_enqueue(cfg, action, argv + optind, argc - optind);
		break;
	case ACTION_RUN:
	default:
		if (cfg->log.metrics_file[0] != '\0') {
			metrics_fd = metrics_lock(cfg->log.metrics_file, err, sizeof(err));
			if (metrics_fd == METRICS_LOCKED && mode != LOOP_FOREVER) {
				/* cron's --once beside the service, with its configuration: the service's file stays */
				log_warning("%s; this %s goes on without writing it", err,
					    mode == LOOP_ONCE ? "--once" : "--drain");
				cfg->log.metrics_file[0] = '\0';
			} else if (metrics_fd == METRICS_LOCKED) {
				log_error("%s", err);
				rc = EXIT_USAGE;
				break;
			} else if (metrics_fd < 0) {
				log_warning("%s", err);
			}
		}
		tune_malloc();
		if (wait_setup() < 0) {
			log_error("could not set up signal handling: %s", strerror(errno));
			rc = EXIT_RUNTIME;
			break;
		}
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			log_error("could not initialize libcurl");
			rc = EXIT_RUNTIME;
			break;
		}
		/* a SIGTERM or SIGINT while connecting, migrating or waiting for the migration lock ends it */
		db_set_wait_hook(wait_db, NULL);
		conn = mode == LOOP_FOREVER ? wait_for_database(cfg) : open_database(cfg, cfg->database.auto_migrate);
		db_set_wait_hook(NULL, NULL);
		if (conn == NULL && wait_stops() > 0) {
			/* as a stop of the running daemon (README): nothing was claimed yet */
			rc = mode == LOOP_FOREVER ? 0 : LOOP_EXIT_INTERRUPTED;
		} else if (conn == NULL) {
			rc = EXIT_RUNTIME;
		} else {
			PQfinish(conn);
			rc = loop_run_until(&cfg, path, mode, timeout);
		}
		curl_global_cleanup();
		break;
	}
	config_free(cfg);
	if (metrics_fd >= 0)
		close(metrics_fd);
	return rc;
}
