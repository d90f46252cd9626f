/* The configuration file: keys, defaults, range checks, and the API key's sources. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <libconfig.h>
#include <unistd.h>

#include "config.h"
#include "discover.h"
#include "schedule.h"

enum key_kind {
	KEY_STRING,
	KEY_DOUBLE,
	KEY_INT,
	KEY_INT64,
	KEY_BOOL,
	KEY_LEVEL,
	KEY_IDS,		/* a list of API IDs: a NULL-terminated char ** */
	KEY_TIME,		/* an RFC 3339 time, or "" */
};

struct key {
	const char *name;	/* "group.key" as written in the file */
	enum key_kind kind;
	size_t offset;		/* into struct config */
	const char *def;	/* default, as text, parsed like a value */
	double min, max;	/* numeric range, inclusive */
};

#define K(name, kind, field, def, min, max) \
	{ name, kind, offsetof(struct config, field), def, min, max }

static const struct key keys[] = {
	K("api.base_url", KEY_STRING, api.base_url, "https://api.extend.ai", 0, 0),
	K("api.version", KEY_STRING, api.version, "2025-04-21", 0, 0),
	K("api.workspace_id", KEY_STRING, api.workspace_id, "", 0, 0),
	K("api.token_file", KEY_STRING, api.token_file, "", 0, 0),
	K("api.rate_limit", KEY_DOUBLE, api.rate_limit, "10", 0.01, 10000),
	K("api.max_in_flight", KEY_INT, api.max_in_flight, "8", 1, 1000),
	K("api.timeout", KEY_DOUBLE, api.timeout, "60", 0.1, 86400),
	/* the body is stored whole in a jsonb column (at most 255 MiB, and jsonb can be larger than the text) */
	K("api.max_response_size", KEY_INT64, api.max_response_size, "67108864", 1024, 134217728.0),
	K("database.conninfo", KEY_STRING, database.conninfo, "", 0, 0),
	K("database.schema", KEY_STRING, database.schema, "extend", 0, 0),
	K("database.extracted_schema", KEY_STRING, database.extracted_schema, "extend_extracted", 0, 0),
	K("database.auto_migrate", KEY_BOOL, database.auto_migrate, "true", 0, 0),
	K("sync.claim_batch", KEY_INT, sync.claim_batch, "64", 1, 10000),
	/*
	 * Fetched results waiting to be written plus what the transfers in
	 * flight may still bring (three times api.max_response_size each: the
	 * body and its rows): 2 GiB lets the default 8 transfers of up to
	 * 64 MiB go on while up to 512 MiB of results wait, half of the 4 GiB
	 * and more that 64 claimed runs could hold before.
	 */
	K("sync.max_pending_bytes", KEY_INT64, sync.max_pending_bytes, "2147483648", 1048576, 1099511627776.0),
	K("sync.idle_poll", KEY_DOUBLE, sync.idle_poll, "5", 0.01, 3600),
	K("sync.lease", KEY_DOUBLE, sync.lease, "300", 1, 7 * 86400),
	K("sync.active_poll_min", KEY_DOUBLE, sync.active_poll_min, "1", 0.01, 86400),
	K("sync.active_poll_max", KEY_DOUBLE, sync.active_poll_max, "30", 0.01, 86400),
	K("sync.review_poll", KEY_DOUBLE, sync.review_poll, "600", 0.01, 31 * 86400),
	K("sync.retry_min", KEY_DOUBLE, sync.retry_min, "1", 0.01, 86400),
	K("sync.retry_max", KEY_DOUBLE, sync.retry_max, "300", 0.01, 7 * 86400),
	K("sync.max_attempts", KEY_INT, sync.max_attempts, "12", 1, 1000),
	K("sync.store_file_contents", KEY_BOOL, sync.store_file_contents, "true", 0, 0),
	K("sync.history_days", KEY_INT, sync.history_days, "0", 0, 36500),
	K("log.level", KEY_LEVEL, log.level, "info", 0, 0),
	K("log.metrics_file", KEY_STRING, log.metrics_file, "", 0, 0),
	K("discover.workflow_ids", KEY_IDS, discover.workflow_ids, "", 0, 0),
	K("discover.all_runs", KEY_BOOL, discover.all_runs, "false", 0, 0),
	K("discover.interval", KEY_DOUBLE, discover.interval, "60", 0.001, 31 * 86400),
	K("discover.since", KEY_TIME, discover.since, "", 0, 0),
	K("discover.overlap", KEY_DOUBLE, discover.overlap, "300", 0, 366 * 86400),
	K("discover.page_size", KEY_INT, discover.page_size, "1000", 1, 1000),
	K("discover.recheck_active", KEY_DOUBLE, discover.recheck_active, "300", 0.01, 31 * 86400),
	K("discover.recheck_parked", KEY_DOUBLE, discover.recheck_parked, "21600", 0.01, 366 * 86400),
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static void
errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void
free_ids(char **ids)
{
	for (size_t i = 0; ids != NULL && ids[i] != NULL; i++)
		free(ids[i]);
	free(ids);
}

static void *
field(struct config *cfg, const struct key *k)
{
	return (char *)cfg + k->offset;
}

/* Store text (a default) into the field; numeric text is trusted here. */
static int
set_default(struct config *cfg, const struct key *k)
{
	void *p = field(cfg, k);

	switch (k->kind) {
	case KEY_STRING:
	case KEY_TIME:
		*(char **)p = strdup(k->def);
		return *(char **)p == NULL ? -ENOMEM : 0;
	case KEY_IDS:
		*(char ***)p = calloc(1, sizeof(char *));
		return *(char ***)p == NULL ? -ENOMEM : 0;
	case KEY_DOUBLE:
		*(double *)p = strtod(k->def, NULL);
		return 0;
	case KEY_INT:
		*(int *)p = (int)strtol(k->def, NULL, 10);
		return 0;
	case KEY_INT64:
		*(long long *)p = strtoll(k->def, NULL, 10);
		return 0;
	case KEY_BOOL:
		*(bool *)p = strcmp(k->def, "true") == 0;
		return 0;
	case KEY_LEVEL:
		return log_level_parse(k->def, (enum log_level *)p);
	}
	return -EINVAL;
}

/* A config with every default, for tests and --help. Caller frees. */
struct config *
config_defaults(void)
{
	struct config *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL)
		return NULL;
	for (size_t i = 0; i < NKEYS; i++) {
		if (set_default(cfg, &keys[i]) < 0) {
			config_free(cfg);
			return NULL;
		}
	}
	return cfg;
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < NKEYS; i++) {
		if (keys[i].kind == KEY_STRING || keys[i].kind == KEY_TIME)
			free(*(char **)field(cfg, &keys[i]));
		else if (keys[i].kind == KEY_IDS)
			free_ids(*(char ***)field(cfg, &keys[i]));
	}
	free(cfg->path);
	free(cfg);
}

/* Give cfg the metrics file of old; see config.h. */
void
config_keep_metrics_file(struct config *cfg, struct config *old)
{
	char *tmp = cfg->log.metrics_file;

	cfg->log.metrics_file = old->log.metrics_file;
	old->log.metrics_file = tmp;
}

/* Give cfg the database settings of old; see config.h. */
void
config_keep_database(struct config *cfg, struct config *old)
{
	char *tmp;

	/* swap rather than copy: nothing to fail, each config still frees what it holds */
	tmp = cfg->database.conninfo;
	cfg->database.conninfo = old->database.conninfo;
	old->database.conninfo = tmp;
	tmp = cfg->database.schema;
	cfg->database.schema = old->database.schema;
	old->database.schema = tmp;
	tmp = cfg->database.extracted_schema;
	cfg->database.extracted_schema = old->database.extracted_schema;
	old->database.extracted_schema = tmp;
}

static const struct key *
key_find(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	}
	return NULL;
}

/* A list of API IDs (such as workflow IDs): each one valid in a URL, none twice. */
static int
read_ids(const struct key *k, const config_setting_t *s, char ***out, const char *where, char *err, size_t errlen)
{
	int n = config_setting_length(s);
	char **ids;

	if (config_setting_type(s) != CONFIG_TYPE_ARRAY && config_setting_type(s) != CONFIG_TYPE_LIST) {
		errf(err, errlen, "%s: %s must be a list of IDs such as [\"workflow_abc\"]", where, k->name);
		return -EINVAL;
	}
	ids = calloc((size_t)n + 1, sizeof(char *));
	if (ids == NULL)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		const char *id = config_setting_get_string_elem(s, i);

		if (id == NULL || !schedule_run_id_valid(id)) {
			errf(err, errlen, "%s: %s: element %d is not an ID (1 to 128 letters, digits, \"_\" or \"-\")",
			     where, k->name, i + 1);
			free_ids(ids);
			return -EINVAL;
		}
		for (int j = 0; j < i; j++) {
			if (strcmp(ids[j], id) == 0) {
				errf(err, errlen, "%s: %s: \"%s\" is listed twice", where, k->name, id);
				free_ids(ids);
				return -EINVAL;
			}
		}
		ids[i] = strdup(id);
		if (ids[i] == NULL) {
			free_ids(ids);
			return -ENOMEM;
		}
	}
	free_ids(*out);
	*out = ids;
	return 0;
}

/* Copy one setting of the file into cfg, checking its type and range. */
static int
read_setting(struct config *cfg, const struct key *k, const config_setting_t *s,
	     const char *where, char *err, size_t errlen)
{
	void *p = field(cfg, k);
	int type = config_setting_type(s);
	int64_t us;
	double d;

	switch (k->kind) {
	case KEY_IDS:
		return read_ids(k, s, (char ***)p, where, err, errlen);
	case KEY_TIME:
		if (type != CONFIG_TYPE_STRING || (config_setting_get_string(s)[0] != '\0' &&
						   discover_parse_time(config_setting_get_string(s), &us) < 0)) {
			errf(err, errlen, "%s: %s must be an RFC 3339 time such as \"2025-01-31T00:00:00Z\", or \"\"",
			     where, k->name);
			return -EINVAL;
		}
		free(*(char **)p);
		*(char **)p = strdup(config_setting_get_string(s));
		return *(char **)p == NULL ? -ENOMEM : 0;
	case KEY_STRING:
		if (type != CONFIG_TYPE_STRING) {
			errf(err, errlen, "%s: %s must be a string", where, k->name);
			return -EINVAL;
		}
		free(*(char **)p);
		*(char **)p = strdup(config_setting_get_string(s));
		return *(char **)p == NULL ? -ENOMEM : 0;
	case KEY_BOOL:
		if (type != CONFIG_TYPE_BOOL) {
			errf(err, errlen, "%s: %s must be true or false", where, k->name);
			return -EINVAL;
		}
		*(bool *)p = config_setting_get_bool(s) != 0;
		return 0;
	case KEY_LEVEL:
		if (type != CONFIG_TYPE_STRING ||
		    log_level_parse(config_setting_get_string(s), (enum log_level *)p) < 0) {
			errf(err, errlen, "%s: %s must be one of \"error\", \"warning\", \"notice\", \"info\", \"debug\"",
			     where, k->name);
			return -EINVAL;
		}
		return 0;
	case KEY_DOUBLE:
	case KEY_INT:
	case KEY_INT64:
		if (type == CONFIG_TYPE_INT)
			d = config_setting_get_int(s);
		else if (type == CONFIG_TYPE_INT64)
			d = (double)config_setting_get_int64(s);
		else if (type == CONFIG_TYPE_FLOAT && k->kind == KEY_DOUBLE)
			d = config_setting_get_float(s);
		else {
			errf(err, errlen, "%s: %s must be %s", where, k->name,
			     k->kind == KEY_DOUBLE ? "a number" : "an integer");
			return -EINVAL;
		}
		if (!(d >= k->min && d <= k->max)) {
			/* libconfig reads 2147483648 without its L as a 32-bit integer, wrapped */
			errf(err, errlen, "%s: %s must be between %g and %.0f (got %g)%s",
			     where, k->name, k->min, k->max, d,
			     k->kind == KEY_INT64 && type == CONFIG_TYPE_INT && k->max > INT_MAX ?
			     "; a value past 2147483647 needs an L suffix, such as 4294967296L" : "");
			return -ERANGE;
		}
		if (k->kind == KEY_DOUBLE)
			*(double *)p = d;
		else if (k->kind == KEY_INT)
			*(int *)p = (int)d;
		else
			*(long long *)p = (long long)d;
		return 0;
	}
	return -EINVAL;
}

/* True when url's host is a loopback address (plain http is allowed only there). */
bool
config_url_is_loopback(const char *url)
{
	const char *h = strstr(url, "://");
	char host[64];
	struct in_addr a4;
	size_t n;

	if (h == NULL)
		return false;
	h += 3;
	/* the authority ends at the path; user information ("127.0.0.1@evil") is refused */
	n = strcspn(h, "/?#");
	if (memchr(h, '@', n) != NULL || n == 0 || n >= sizeof(host))
		return false;
	memcpy(host, h, n);
	host[n] = '\0';
	if (host[0] == '[') {
		char *close = strchr(host, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			return false;
		if (close[1] == ':' && (close[2] == '\0' || strspn(close + 2, "0123456789") != strlen(close + 2)))
			return false;
		*close = '\0';
		return strcmp(host + 1, "::1") == 0;
	}
	{
		char *colon = strchr(host, ':');

		if (colon != NULL) {
			if (colon[1] == '\0' || strspn(colon + 1, "0123456789") != strlen(colon + 1))
				return false;
			*colon = '\0';
		}
	}
	if (strcasecmp(host, "localhost") == 0)
		return true;
	return inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

/* Printable ASCII without spaces: safe inside an HTTP header or an identifier. */
static bool
is_token(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	}
	return true;
}

/* Whether s is a lower-case identifier of at most max bytes, fit to be a schema name unquoted. */
static bool
is_identifier(const char *s, size_t max)
{
	return s[0] != '\0' && strlen(s) <= max && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(s) &&
	       !(s[0] >= '0' && s[0] <= '9');
}

/* url without its user and password; see config.h. */
const char *
config_url_for_log(const char *url, char *buf, size_t len)
{
	const char *host = strstr(url, "://");
	const char *at;

	if (host == NULL)
		return url;
	host += 3;
	/* the last @ of the authority: a password may hold one */
	at = NULL;
	for (size_t i = 0, n = strcspn(host, "/?#"); i < n; i++) {
		if (host[i] == '@')
			at = host + i;
	}
	if (at == NULL)
		return url;
	snprintf(buf, len, "%.*s***%s", (int)(host - url), url, at);
	return buf;
}

/* Checks that involve more than one key, or more than a range. */
static int
check_consistency(const struct config *cfg, char *err, size_t errlen)
{
	const char *u = cfg->api.base_url;
	const char *s = cfg->database.schema;

	if (strncasecmp(u, "https://", 8) != 0 &&
	    !(strncasecmp(u, "http://", 7) == 0 && config_url_is_loopback(u))) {
		errf(err, errlen, "%s: api.base_url must start with https:// (http:// only for loopback hosts)",
		     cfg->path);
		return -EINVAL;
	}
	if (!is_token(u) || strlen(u) < 9) {
		errf(err, errlen, "%s: api.base_url is not a valid URL", cfg->path);
		return -EINVAL;
	}
	if (cfg->api.version[0] == '\0' || !is_token(cfg->api.version)) {
		errf(err, errlen, "%s: api.version must be a non-empty token such as \"2025-04-21\"", cfg->path);
		return -EINVAL;
	}
	if (!is_token(cfg->api.workspace_id)) {
		errf(err, errlen, "%s: api.workspace_id must not contain spaces or control characters", cfg->path);
		return -EINVAL;
	}
	/* at most 52: enqueue() notifies on "<schema>.sync_queue", and a channel name has at most 63 bytes */
	if (!is_identifier(s, 52)) {
		errf(err, errlen, "%s: database.schema must be a lower-case identifier of at most 52 characters",
		     cfg->path);
		return -EINVAL;
	}
	if (!is_identifier(cfg->database.extracted_schema, 63)) {
		errf(err, errlen, "%s: database.extracted_schema must be a lower-case identifier of at most 63 "
		     "characters (got \"%.80s\")", cfg->path, cfg->database.extracted_schema);
		return -EINVAL;
	}
	if (strncmp(cfg->database.extracted_schema, "pg_", 3) == 0 || strncmp(s, "pg_", 3) == 0) {
		errf(err, errlen, "%s: database.schema and database.extracted_schema must not begin with \"pg_\" "
		     "(PostgreSQL keeps those names for its own schemas)", cfg->path);
		return -EINVAL;
	}
	if (strcmp(cfg->database.extracted_schema, s) == 0) {
		errf(err, errlen, "%s: database.extracted_schema must not be database.schema (\"%s\"): the views "
		     "need a schema of their own", cfg->path, s);
		return -EINVAL;
	}
	if (cfg->sync.active_poll_min > cfg->sync.active_poll_max) {
		errf(err, errlen, "%s: sync.active_poll_min (%g) must not exceed sync.active_poll_max (%g)",
		     cfg->path, cfg->sync.active_poll_min, cfg->sync.active_poll_max);
		return -EINVAL;
	}
	if (cfg->sync.lease <= cfg->api.timeout) {
		errf(err, errlen, "%s: sync.lease (%g) must be longer than api.timeout (%g), or slow requests "
		     "lose their runs to other daemons", cfg->path, cfg->sync.lease, cfg->api.timeout);
		return -EINVAL;
	}
	if (cfg->sync.retry_min > cfg->sync.retry_max) {
		errf(err, errlen, "%s: sync.retry_min (%g) must not exceed sync.retry_max (%g)",
		     cfg->path, cfg->sync.retry_min, cfg->sync.retry_max);
		return -EINVAL;
	}
	return 0;
}

static bool
group_known(const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < NKEYS; i++) {
		if (strncmp(keys[i].name, name, n) == 0 && keys[i].name[n] == '.')
			return true;
	}
	return false;
}

/* Walk every group and key of the file; unknown names are errors (typos must not pass silently). */
static int
read_file(struct config *cfg, config_t *lc, char *err, size_t errlen)
{
	config_setting_t *root = config_root_setting(lc);
	char name[128], where[PATH_MAX + 32];

	for (int g = 0; g < config_setting_length(root); g++) {
		config_setting_t *grp = config_setting_get_elem(root, (unsigned)g);

		if (!config_setting_is_group(grp)) {
			errf(err, errlen, "%s:%d: \"%s\" must be a group such as api: { ... }",
			     cfg->path, config_setting_source_line(grp), config_setting_name(grp));
			return -EINVAL;
		}
		if (!group_known(config_setting_name(grp))) {
			errf(err, errlen, "%s:%d: unknown group \"%s\" (known: api, database, sync, log, discover)",
			     cfg->path, config_setting_source_line(grp), config_setting_name(grp));
			return -EINVAL;
		}
		for (int i = 0; i < config_setting_length(grp); i++) {
			config_setting_t *s = config_setting_get_elem(grp, (unsigned)i);
			const struct key *k;
			int rc;

			snprintf(name, sizeof(name), "%s.%s", config_setting_name(grp), config_setting_name(s));
			snprintf(where, sizeof(where), "%s:%d", cfg->path, config_setting_source_line(s));
			k = key_find(name);
			if (k == NULL) {
				errf(err, errlen, "%s: unknown key %s", where, name);
				return -EINVAL;
			}
			rc = read_setting(cfg, k, s, where, err, errlen);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/*
 * "%i" in log.metrics_file is the configuration file's name without its
 * directory and ".conf": under the template unit extend-syncd@NAME.service
 * (-c .../NAME.conf), the instance's name, so that instances made from
 * copies of one file still write one metrics file each (its lock allows
 * one writer).
 */
static int
expand_metrics_file(struct config *cfg, char *err, size_t errlen)
{
	const char *base = strrchr(cfg->path, '/') != NULL ? strrchr(cfg->path, '/') + 1 : cfg->path;
	size_t blen = strlen(base), n = 0;
	const char *p;
	char *out;

	if (strstr(cfg->log.metrics_file, "%i") == NULL)
		return 0;
	if (blen > 5 && strcmp(base + blen - 5, ".conf") == 0)
		blen -= 5;
	for (p = cfg->log.metrics_file; (p = strstr(p, "%i")) != NULL; p += 2)
		n++;
	out = malloc(strlen(cfg->log.metrics_file) + n * blen + 1);
	if (out == NULL) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	out[0] = '\0';
	for (p = cfg->log.metrics_file; *p != '\0';) {
		if (p[0] == '%' && p[1] == 'i') {
			strncat(out, base, blen);
			p += 2;
		} else {
			strncat(out, p++, 1);
		}
	}
	free(cfg->log.metrics_file);
	cfg->log.metrics_file = out;
	return 0;
}

/* Read and check the file at path; see config.h. */
struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct config *cfg = config_defaults();
	config_t lc;
	int rc;

	config_init(&lc);
	if (cfg == NULL) {
		errf(err, errlen, "out of memory");
		goto fail;
	}
	cfg->path = strdup(path);
	if (cfg->path == NULL) {
		errf(err, errlen, "out of memory");
		goto fail;
	}
	if (config_read_file(&lc, path) != CONFIG_TRUE) {
		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
			errf(err, errlen, "could not read configuration file \"%s\": %s", path, strerror(errno));
		else
			errf(err, errlen, "%s:%d: syntax error: %s", path, config_error_line(&lc),
			     config_error_text(&lc));
		goto fail;
	}
	rc = read_file(cfg, &lc, err, errlen);
	if (rc < 0 || expand_metrics_file(cfg, err, errlen) < 0)
		goto fail;
	rc = check_consistency(cfg, err, errlen);
	if (rc < 0)
		goto fail;
	config_destroy(&lc);
	return cfg;
fail:
	config_destroy(&lc);
	config_free(cfg);
	return NULL;
}

/* Read the first line of a key file, trailing whitespace stripped. */
static char *
read_key_file(const char *path, char *err, size_t errlen)
{
	char buf[4096];
	FILE *f = fopen(path, "re");
	size_t n;

	if (f == NULL) {
		errf(err, errlen, "could not open API key file \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = '\0';
	{
		char *key = strdup(buf);

		explicit_bzero(buf, sizeof(buf));
		if (key == NULL)
			errf(err, errlen, "out of memory");
		return key;
	}
}

/*
 * EXTEND_API_KEY, once config_hide_env_key() took it out of the
 * environment.  The environment is process-wide state already; this keeps
 * it, only where /proc/PID/environ and child processes cannot see it.
 */
static char *env_key;

/* Take EXTEND_API_KEY out of the environment; see config.h. */
int
config_hide_env_key(void)
{
	char *value = getenv("EXTEND_API_KEY");
	char *entry;

	if (value == NULL)
		return 0;
	/* getenv() points past "EXTEND_API_KEY=" in the entry */
	entry = value - strlen("EXTEND_API_KEY=");
	if (env_key == NULL) {
		env_key = strdup(value);
		if (env_key == NULL)
			return -1;
	}
	if (unsetenv("EXTEND_API_KEY") < 0)
		return -1;
	/*
	 * /proc/PID/environ shows the original block, whatever unsetenv() did
	 * to environ: the whole entry is wiped there, the name with the value,
	 * so that not even an empty EXTEND_API_KEY= is left to read.
	 */
	explicit_bzero(entry, strlen(entry));
	return 0;
}

/* Find the API key; see config.h. */
char *
config_load_api_key(const struct config *cfg, char *err, size_t errlen)
{
	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	const char *env = env_key != NULL ? env_key : getenv("EXTEND_API_KEY");
	const char *source;
	char path[PATH_MAX];
	char *key = NULL;

	if (cfg->api.token_file[0] != '\0') {
		source = "api.token_file";
		key = read_key_file(cfg->api.token_file, err, errlen);
	} else if (creds != NULL && creds[0] != '\0' &&
		   snprintf(path, sizeof(path), "%s/extend-api-key", creds) < (int)sizeof(path) &&
		   access(path, F_OK) == 0) {
		source = "credential extend-api-key";
		key = read_key_file(path, err, errlen);
	} else if (env != NULL && env[0] != '\0') {
		source = "EXTEND_API_KEY";
		key = strdup(env);
		if (key == NULL)
			errf(err, errlen, "out of memory");
	} else {
		errf(err, errlen, "no API key: set api.token_file, a systemd credential \"extend-api-key\", "
		     "or the environment variable EXTEND_API_KEY");
		return NULL;
	}
	if (key == NULL)
		return NULL;
	if (key[0] == '\0' || !is_token(key)) {
		errf(err, errlen, "the API key from %s is empty or contains spaces or control characters", source);
		explicit_bzero(key, strlen(key));
		free(key);
		return NULL;
	}
	return key;
}

/* A configuration and key for a SIGHUP; see config.h. */
struct config *
config_reload(const char *path, char **keyp, char *err, size_t errlen)
{
	struct config *cfg = config_load(path, err, errlen);

	*keyp = NULL;
	if (cfg == NULL)
		return NULL;
	*keyp = config_load_api_key(cfg, err, errlen);
	if (*keyp == NULL) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

/* Whether the database settings changed; see config.h. */
bool
config_database_changed(const struct config *cfg, const struct config *old)
{
	return strcmp(cfg->database.conninfo, old->database.conninfo) != 0 ||
	    strcmp(cfg->database.schema, old->database.schema) != 0 ||
	    strcmp(cfg->database.extracted_schema, old->database.extracted_schema) != 0;
}

/* Wipe and free a key; see config.h. */
void
config_free_api_key(char *key)
{
	if (key == NULL)
		return;
	explicit_bzero(key, strlen(key));
	free(key);
}
