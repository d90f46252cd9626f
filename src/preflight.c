/* Checks before a start: what the configuration names is usable, the database and the API answer. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "buf.h"
#include "preflight.h"
#include "db.h"
#include "fetch.h"
#include "normalize.h"

/* Replies larger than this are cut: the check needs the status and an error message. */
#define PREFLIGHT_BODY_MAX (1 << 20)

/* database.conninfo as libpq itself reads it: a misspelt keyword is an error here, not at start. */
static int
check_conninfo(const char *conninfo, char *err, size_t errlen)
{
	char *msg = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);
	size_t n;

	if (opts != NULL) {
		PQconninfoFree(opts);
		return 0;
	}
	snprintf(err, errlen, "database.conninfo is not a valid connection string: %s",
		 msg != NULL ? msg : "out of memory");
	n = strlen(err);
	while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
		err[--n] = '\0';
	PQfreemem(msg);
	return -1;
}

/* The metrics file is written by rename in its directory: that directory must be there and writable. */
static int
check_metrics_dir(const char *path, char *err, size_t errlen)
{
	char *copy = strdup(path);
	const char *dir;
	struct stat st;
	int rc = -1;

	if (copy == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	dir = dirname(copy);
	if (stat(dir, &st) < 0)
		snprintf(err, errlen, "log.metrics_file \"%s\": cannot use directory \"%s\": %s", path, dir,
			 strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		snprintf(err, errlen, "log.metrics_file \"%s\": \"%s\" is not a directory", path, dir);
	else if (access(dir, W_OK | X_OK) < 0)
		snprintf(err, errlen, "log.metrics_file \"%s\": directory \"%s\" is not writable by this user: %s",
			 path, dir, strerror(errno));
	else
		rc = 0;
	free(copy);
	return rc;
}

/* What -t checks; see preflight.h. */
int
preflight_offline(const struct config *cfg, char *err, size_t errlen)
{
	if (check_conninfo(cfg->database.conninfo, err, errlen) < 0)
		return -1;
	if (cfg->log.metrics_file[0] != '\0' && check_metrics_dir(cfg->log.metrics_file, err, errlen) < 0)
		return -1;
	if (cfg->api.token_file[0] != '\0') {
		char *key = config_load_api_key(cfg, err, errlen);

		if (key == NULL)
			return -1;
		explicit_bzero(key, strlen(key));
		free(key);
	}
	return 0;
}

/* What the role may do with the schema, and the server's version, in one row. */
static const char sql_database[] =
	"SELECT current_setting('server_version'), current_user, current_database(), "
	"  n.oid IS NOT NULL, coalesce(pg_get_userbyid(n.nspowner), ''), "
	"  coalesce(pg_has_role(current_user, n.nspowner, 'USAGE'), false), "
	"  has_database_privilege(current_database(), 'CREATE'), "
	"  EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.relnamespace = n.oid AND c.relname = 'schema_migrations') "
	"FROM (SELECT 1) one LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = $1";

/* The database, as the daemon would meet it; see preflight.h. */
int
preflight_database(const struct config *cfg, char *line, size_t len)
{
	const char *schema = cfg->database.schema;
	char err[DB_ERR_SIZE], version[80] = "";
	PGconn *conn = db_connect(cfg->database.conninfo, schema, err, sizeof(err));
	PGresult *res = NULL;
	int want = db_latest_version(), have = 0, rc = -1;
	bool exists, owner, may_create, migrated;

	if (conn == NULL) {
		snprintf(line, len, "database: could not connect: %s", err);
		return -1;
	}
	res = db_exec_params(conn, sql_database, 1, NULL, &schema, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		db_error(conn, res, err, sizeof(err));
		snprintf(line, len, "database: connected, but could not read the catalog: %s", err);
		goto out;
	}
	exists = PQgetvalue(res, 0, 3)[0] == 't';
	owner = PQgetvalue(res, 0, 5)[0] == 't';
	may_create = PQgetvalue(res, 0, 6)[0] == 't';
	migrated = PQgetvalue(res, 0, 7)[0] == 't';
	if (migrated) {
		PGresult *v = db_exec_query(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations");

		if (PQresultStatus(v) == PGRES_TUPLES_OK && PQntuples(v) == 1)
			have = atoi(PQgetvalue(v, 0, 0));
		else
			have = -1;
		PQclear(v);
	}
	if (!exists)
		snprintf(version, sizeof(version), "does not exist yet");
	else if (have < 0)
		snprintf(version, sizeof(version), "version unreadable");
	else if (have == want)
		snprintf(version, sizeof(version), "at version %d, up to date", have);
	else if (have < want)
		snprintf(version, sizeof(version), "at version %d of %d, %s", have, want,
			 cfg->database.auto_migrate ? "migrated at start" : "needs --migrate (auto_migrate is off)");
	else
		snprintf(version, sizeof(version), "at version %d, newer than this build (%d)", have, want);
	rc = 0;
	if (exists && !owner) {
		snprintf(err, sizeof(err), "missing privileges: schema owned by \"%s\", not by this role: run roles.sql "
			 "as a superuser", PQgetvalue(res, 0, 4));
		rc = -1;
	} else if (!exists && !may_create) {
		snprintf(err, sizeof(err), "missing privileges: the role may not create the schema: run roles.sql as a "
			 "superuser");
		rc = -1;
	} else if (have < 0 || (have < want && !cfg->database.auto_migrate)) {
		snprintf(err, sizeof(err), "privileges OK");
		rc = -1;
	} else {
		snprintf(err, sizeof(err), "privileges OK (%s)", exists ? "owns the schema" : "may create the schema");
	}
	snprintf(line, len, "database: %s, PostgreSQL %s, connected as \"%s\" to \"%s\"; schema \"%s\" %s; %s",
		 rc == 0 ? "OK" : "FAILED", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
		 schema, version, err);
out:
	PQclear(res);
	PQfinish(conn);
	return rc;
}

static size_t
on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;

	/* past the cap the rest is dropped: the status and an error message are all the check needs */
	if (buf_append(b, p, n) < 0)
		return n;
	return n;
}

/* The API, as the daemon would meet it; see preflight.h. */
int
preflight_api(const struct config *cfg, char *line, size_t len)
{
	char err[CONFIG_ERR_SIZE], url[2048], errbuf[CURL_ERROR_SIZE] = "", msg[200];
	char *key = config_load_api_key(cfg, err, sizeof(err));
	struct curl_slist *headers = NULL;
	CURL *e = NULL;
	struct buf body;
	long status = 0;
	double seconds = 0;
	CURLcode cc;
	int rc = -1;

	buf_init(&body, PREFLIGHT_BODY_MAX);
	snprintf(url, sizeof(url), "%s/workflow_runs?maxPageSize=1", cfg->api.base_url);
	if (key == NULL) {
		snprintf(line, len, "api: FAILED, no request sent: %s", err);
		return -1;
	}
	headers = fetch_headers_new(cfg, key);
	explicit_bzero(key, strlen(key));
	free(key);
	e = curl_easy_init();
	if (headers == NULL || e == NULL) {
		snprintf(line, len, "api: FAILED, no request sent: out of memory");
		goto out;
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
	fetch_easy_defaults(e, (long)(cfg->api.timeout * 1000), PREFLIGHT_BODY_MAX);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	cc = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(e, CURLINFO_TOTAL_TIME, &seconds);
	if (cc != CURLE_OK) {
		snprintf(line, len, "api: FAILED, GET %s: %s", url, errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	if (body.len == 0 || normalize_error_message(body.data, body.len, msg, sizeof(msg)) < 0)
		msg[0] = '\0';
	if (status == 200) {
		snprintf(line, len, "api: OK, GET %s answered HTTP 200 in %.2fs: the API key is accepted", url, seconds);
		rc = 0;
	} else if (status == 401 || status == 402 || status == 403) {
		snprintf(line, len, "api: FAILED, GET %s answered HTTP %ld%s%s: the API key or workspace is refused "
			 "(check api.token_file, the extend-api-key credential or EXTEND_API_KEY, and api.workspace_id)",
			 url, status, msg[0] != '\0' ? ": " : "", msg);
	} else {
		snprintf(line, len, "api: FAILED, GET %s answered HTTP %ld%s%s", url, status, msg[0] != '\0' ? ": " : "",
			 msg);
	}
out:
	if (e != NULL)
		curl_easy_cleanup(e);
	fetch_headers_free(headers);
	buf_free(&body);
	return rc;
}
