/* Checks before a start: what the configuration names is usable, the database and the API answer. */
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
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
#include "pgarray.h"

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

/* The user the units of systemd/ run the daemon as (User=, with DynamicUser=yes). */
#define SERVICE_USER "extend_syncd"

/* Most groups of the service's user looked at. */
#define SERVICE_GROUPS_MAX 64

/* Whether the user pw may write into and enter directory st, by its mode bits (root asks for another). */
static bool
user_may_write(const struct passwd *pw, const struct stat *st)
{
	gid_t groups[SERVICE_GROUPS_MAX];
	int n = SERVICE_GROUPS_MAX;

	if (st->st_uid == pw->pw_uid)
		return (st->st_mode & (S_IWUSR | S_IXUSR)) == (S_IWUSR | S_IXUSR);
	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
		n = SERVICE_GROUPS_MAX;
	for (int i = 0; i < n; i++) {
		if (groups[i] == st->st_gid)
			return (st->st_mode & (S_IWGRP | S_IXGRP)) == (S_IWGRP | S_IXGRP);
	}
	return (st->st_mode & (S_IWOTH | S_IXOTH)) == (S_IWOTH | S_IXOTH);
}

/*
 * The metrics file is written by rename in its directory: that directory
 * must be there and writable, by the user the daemon runs as.  Run as
 * root, -t checks for the units' user instead (root may write anywhere);
 * a dynamic user exists only while its service runs, and no check here
 * sees the unit's SupplementaryGroups= or ReadWritePaths=: warn then.
 */
static int
check_metrics_dir(const char *path, char *err, size_t errlen, char *warn, size_t warnlen)
{
	char *copy = strdup(path);
	const struct passwd *pw;
	const char *dir;
	struct stat st;
	int rc = -1;

	if (copy == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	dir = dirname(copy);
	if (stat(dir, &st) < 0) {
		snprintf(err, errlen, "log.metrics_file \"%s\": cannot use directory \"%s\": %s", path, dir,
			 strerror(errno));
	} else if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "log.metrics_file \"%s\": \"%s\" is not a directory", path, dir);
	} else if (geteuid() != 0) {
		if (access(dir, W_OK | X_OK) < 0)
			snprintf(err, errlen, "log.metrics_file \"%s\": directory \"%s\" is not writable by this user: %s",
				 path, dir, strerror(errno));
		else
			rc = 0;
	} else if ((pw = getpwnam(SERVICE_USER)) == NULL) {
		snprintf(warn, warnlen, "log.metrics_file \"%s\": cannot check directory \"%s\" as the service's user "
			 "\"" SERVICE_USER "\", which does not exist now (a dynamic user exists while the service runs): "
			 "it must be writable by that user (its group or all) and allowed by ReadWritePaths= in the unit",
			 path, dir);
		rc = 0;
	} else if (!user_may_write(pw, &st)) {
		snprintf(err, errlen, "log.metrics_file \"%s\": directory \"%s\" is not writable by the service's user "
			 "\"" SERVICE_USER "\" (a group of the unit's SupplementaryGroups= is not seen here)", path, dir);
	} else {
		snprintf(warn, warnlen, "log.metrics_file \"%s\": directory \"%s\" is writable by the service's user "
			 "\"" SERVICE_USER "\"; the unit must also allow it with ReadWritePaths=", path, dir);
		rc = 0;
	}
	free(copy);
	return rc;
}

/* What -t checks; see preflight.h. */
int
preflight_offline(const struct config *cfg, char *err, size_t errlen, char *warn, size_t warnlen)
{
	warn[0] = '\0';
	if (check_conninfo(cfg->database.conninfo, err, errlen) < 0)
		return -1;
	if (cfg->log.metrics_file[0] != '\0' && check_metrics_dir(cfg->log.metrics_file, err, errlen, warn, warnlen) < 0)
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

/* The configured sources (in the order of the configuration): swept yet, and listed a run yet. */
static const char sql_sources[] =
	"SELECT s.name, d.last_sweep_at IS NOT NULL, d.high_water IS NOT NULL "
	"FROM unnest($1::text[]) WITH ORDINALITY AS s (name, n) LEFT JOIN discovery_state d ON d.source = s.name "
	"ORDER BY s.n";

/* The names of the configured sources as a text[] literal into b; 0 or -1 (out of memory). */
static int
source_names(const struct config *cfg, struct buf *b)
{
	char name[200];
	const char *p = name;

	if (buf_append_str(b, "{") < 0)
		return -1;
	if (cfg->discover.all_runs) {
		snprintf(name, sizeof(name), "all");
		if (pgarray_add(b, &p, 1, 1) < 0)
			return -1;
	}
	for (char **id = cfg->discover.workflow_ids; id != NULL && *id != NULL; id++) {
		snprintf(name, sizeof(name), "workflow:%s", *id);
		if (pgarray_add(b, &p, 1, 1) < 0)
			return -1;
	}
	return buf_append_str(b, "}");
}

/* The sources as discovery_state has them; see preflight.h. */
int
preflight_discover(const struct config *cfg, char *line, size_t len)
{
	char err[DB_ERR_SIZE];
	struct buf names, silent, unswept;
	PGconn *conn = db_connect(cfg->database.conninfo, cfg->database.schema, err, sizeof(err));
	PGresult *res = NULL;
	int rc = -1, n = 0;

	buf_init(&names, 1 << 20);
	buf_init(&silent, len);
	buf_init(&unswept, len);
	if (conn == NULL) {
		snprintf(line, len, "discover: could not connect: %s", err);
		goto out;
	}
	if (source_names(cfg, &names) < 0) {
		snprintf(line, len, "discover: out of memory");
		goto out;
	}
	/* a schema not migrated yet (the daemon migrates it at start): nothing swept, nothing wrong */
	res = db_exec_query(conn, "SELECT to_regclass('discovery_state') IS NULL");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't') {
		snprintf(line, len, "discover: OK, not swept yet (the schema is migrated at start)");
		rc = 0;
		goto out;
	}
	PQclear(res);
	res = db_exec_params(conn, sql_sources, 1, NULL, (const char *const *)&names.data, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_error(conn, res, err, sizeof(err));
		snprintf(line, len, "discover: could not read discovery_state: %s", err);
		goto out;
	}
	n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		struct buf *to = PQgetvalue(res, i, 1)[0] != 't' ? &unswept : PQgetvalue(res, i, 2)[0] != 't' ? &silent :
				 NULL;

		if (to != NULL && (buf_append_str(to, to->len > 0 ? ", \"" : "\"") < 0 ||
				   buf_append_str(to, PQgetvalue(res, i, 0)) < 0 || buf_append_str(to, "\"") < 0))
			break;	/* a line that long names enough */
	}
	if (silent.len == 0 && unswept.len == 0)
		snprintf(line, len, "discover: OK, %d source%s, each has listed runs", n, n == 1 ? "" : "s");
	else
		snprintf(line, len, "discover: WARNING, %d source%s%s%s%s%s%s%s", n, n == 1 ? "" : "s",
			 silent.len > 0 ? "; never listed a run: " : "", silent.len > 0 ? silent.data : "",
			 silent.len > 0 ? " (check the IDs in discover.workflow_ids, api.workspace_id and discover.since)" : "",
			 unswept.len > 0 ? "; not swept yet: " : "", unswept.len > 0 ? unswept.data : "",
			 unswept.len > 0 ? " (the daemon sweeps them; extend-syncd --discover does now)" : "");
	rc = 0;
out:
	PQclear(res);
	PQfinish(conn);
	buf_free(&names);
	buf_free(&silent);
	buf_free(&unswept);
	return rc;
}

/*
 * s as one word of a shell command: as it is when it needs no quoting,
 * else in single quotes (each ' written '\''); "" when it does not fit.
 */
static const char *
shell_word(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	if (s[0] != '\0' && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./-+:=@%,") ==
	    strlen(s))
		return s;
	if (len < 3)
		return "";
	buf[o++] = '\'';
	for (; *s != '\0'; s++) {
		if (o + (*s == '\'' ? 4 : 1) + 2 > len)
			return "";
		if (*s == '\'') {
			memcpy(buf + o, "'\\''", 4);
			o += 4;
		} else
			buf[o++] = *s;
	}
	buf[o++] = '\'';
	buf[o] = '\0';
	return buf;
}

/*
 * The API key file of the unit that runs the configuration at path: a
 * template instance's NAME.api-key for SYSCONFDIR/extend-syncd/NAME.conf
 * (systemd/extend-syncd.service.in), else the service's api-key.
 */
static void
unit_key_file(const char *path, char *buf, size_t len)
{
	static const char dir[] = SYSCONFDIR "/extend-syncd/";
	size_t n = strlen(path);

	if (strncmp(path, dir, sizeof(dir) - 1) == 0 && strchr(path + sizeof(dir) - 1, '/') == NULL &&
	    n > sizeof(dir) - 1 + strlen(".conf") && strcmp(path + n - strlen(".conf"), ".conf") == 0)
		snprintf(buf, len, "%.*s.api-key", (int)(n - strlen(".conf")), path);
	else
		snprintf(buf, len, "%sapi-key", dir);
}

/* What to do about peer or ident authentication; see preflight.h. */
bool
preflight_auth_hint(const char *err, const char *config_path, const char *command, char *hint, size_t len)
{
	const char *peer = strstr(err, "Peer authentication failed for user \"");
	const char *ident = strstr(err, "Ident authentication failed for user \"");
	const char *from = peer != NULL ? peer : ident;
	const struct passwd *pw = getpwuid(geteuid());
	const char *me = pw != NULL ? pw->pw_name : "?";
	char role[64], qrole[64 * 4 + 3], qpath[PATH_MAX * 4 + 3], key[PATH_MAX + 64], qkey[sizeof(key) * 4 + 3], *abs;
	const char *path, *wrole, *wkey;
	size_t n;

	hint[0] = '\0';
	if (from == NULL)
		return false;
	/* systemd-run starts it in / */
	abs = realpath(config_path, NULL);
	path = abs != NULL ? abs : config_path;
	from = strchr(from, '"') + 1;
	n = strcspn(from, "\"");
	snprintf(role, sizeof(role), "%.*s", (int)(n < sizeof(role) ? n : sizeof(role) - 1), from);
	unit_key_file(path, key, sizeof(key));
	/* the commands below are pasted into a shell */
	wkey = shell_word(key, qkey, sizeof(qkey));
	path = shell_word(path, qpath, sizeof(qpath));
	wrole = shell_word(role, qrole, sizeof(qrole));
	if (ident != NULL)
		snprintf(hint, len, "ident authentication (pg_hba.conf) asks an ident server which operating system user "
			 "connects; connect over the Unix socket (host=/run/postgresql) as the operating system user "
			 "\"%s\", which peer authentication lets in as the role of the same name", role);
	else if (strcmp(me, role) == 0)
		snprintf(hint, len, "peer authentication (pg_hba.conf) did not map the operating system user \"%s\" to "
			 "the role of the same name: see pg_hba.conf and pg_ident.conf", me);
	else
		snprintf(hint, len, "peer authentication (pg_hba.conf) admits the role \"%s\" only to the operating system "
			 "user of the same name, and this runs as \"%s\": run it as the service does, "
			 "sudo systemd-run --pipe --wait -q -p DynamicUser=yes -p User=%s "
			 "-p LoadCredential=extend-api-key:%s extend-syncd -c %s %s "
			 "(or, where the user \"%s\" exists, sudo -u %s extend-syncd -c %s %s)",
			 role, me, wrole, wkey, path, command, role, wrole, path, command);
	free(abs);
	return true;
}

/* The database, as the daemon would meet it; see preflight.h. */
int
preflight_database(const struct config *cfg, char *line, size_t len)
{
	const char *schema = cfg->database.schema;
	char err[DB_ERR_SIZE], why[DB_ERR_SIZE], version[200] = "";
	PGconn *conn = db_connect(cfg->database.conninfo, schema, err, sizeof(err));
	PGresult *res = NULL;
	int want = db_latest_version(), have = 0, rc = -1;
	bool exists, owner, may_create, migrated, behind;

	if (conn == NULL) {
		char hint[1024];

		if (preflight_auth_hint(err, cfg->path, "--check-connection", hint, sizeof(hint)))
			snprintf(line, len, "database: could not connect: %s; %s", err, hint);
		else
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
	/* below the newest, or at it with one below it not recorded (applied at start, or refused) */
	behind = exists && have >= 0 &&
		 (have < want || (have == want && db_check_version(conn, schema, why, sizeof(why)) < 0));
	if (!exists)
		snprintf(version, sizeof(version), "does not exist yet");
	else if (have < 0)
		snprintf(version, sizeof(version), "version unreadable");
	else if (have > want)
		snprintf(version, sizeof(version), "at version %d, newer than this build (%d): refused, no downgrades",
			 have, want);
	else if (behind)
		snprintf(version, sizeof(version), "at version %d of %d%s, %s", have, want,
			 have == want ? " (one below it not recorded, or one this build does not have)" : "",
			 cfg->database.auto_migrate ? "migrated at start" : "needs --migrate (auto_migrate is off)");
	else
		snprintf(version, sizeof(version), "at version %d, up to date", have);
	rc = 0;
	if (exists && !owner) {
		snprintf(err, sizeof(err), "missing privileges: schema owned by \"%s\", not by this role: run roles.sql "
			 "as a superuser", PQgetvalue(res, 0, 4));
		rc = -1;
	} else if (!exists && !may_create) {
		snprintf(err, sizeof(err), "missing privileges: the role may not create the schema: run roles.sql as a "
			 "superuser");
		rc = -1;
	} else if (have < 0 || have > want || (behind && !cfg->database.auto_migrate)) {
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
