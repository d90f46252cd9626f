/* Check suite for config: the shipped file, defaults, range and type checks, base URLs, and the API key's sources. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

/*
 * What a test creates is registered here and removed by the teardown, so
 * that a failing assertion leaves no file behind and leaks nothing, with
 * or without CK_FORK=no.
 */
#define MAX_KEPT 32

static char kept_files[MAX_KEPT][64];
static char kept_dirs[MAX_KEPT][64];
static struct config *kept_cfgs[MAX_KEPT];
static char *kept_strs[MAX_KEPT];

static struct config *
keep_cfg(struct config *cfg)
{
	for (size_t i = 0; i < MAX_KEPT; i++) {
		if (kept_cfgs[i] == NULL) {
			kept_cfgs[i] = cfg;
			return cfg;
		}
	}
	ck_abort_msg("too many configs kept in one test");
	return NULL;
}

static char *
keep_str(char *s)
{
	for (size_t i = 0; i < MAX_KEPT; i++) {
		if (kept_strs[i] == NULL) {
			kept_strs[i] = s;
			return s;
		}
	}
	ck_abort_msg("too many strings kept in one test");
	return NULL;
}

/* Write text to a new file under dir (or /tmp); returns its path, removed by the teardown. */
static const char *
write_file_in(const char *dir, const char *name, const char *text)
{
	for (size_t i = 0; i < MAX_KEPT; i++) {
		FILE *f;

		if (kept_files[i][0] != '\0')
			continue;
		if (dir != NULL) {
			snprintf(kept_files[i], sizeof(kept_files[i]), "%s/%s", dir, name);
			f = fopen(kept_files[i], "w");
		} else {
			int fd;

			snprintf(kept_files[i], sizeof(kept_files[i]), "/tmp/check_config_XXXXXX");
			fd = mkstemp(kept_files[i]);
			ck_assert_int_ge(fd, 0);
			f = fdopen(fd, "w");
		}
		ck_assert_ptr_nonnull(f);
		ck_assert_int_ge(fputs(text, f), 0);
		ck_assert_int_eq(fclose(f), 0);
		return kept_files[i];
	}
	ck_abort_msg("too many files kept in one test");
	return NULL;
}

static const char *
write_tmp(const char *text)
{
	return write_file_in(NULL, NULL, text);
}

static const char *
make_tmp_dir(void)
{
	for (size_t i = 0; i < MAX_KEPT; i++) {
		if (kept_dirs[i][0] != '\0')
			continue;
		snprintf(kept_dirs[i], sizeof(kept_dirs[i]), "/tmp/check_config_creds_XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(kept_dirs[i]));
		return kept_dirs[i];
	}
	ck_abort_msg("too many directories kept in one test");
	return NULL;
}

static void
setup(void)
{
	unsetenv("CREDENTIALS_DIRECTORY");
	unsetenv("EXTEND_API_KEY");
}

static void
teardown(void)
{
	for (size_t i = 0; i < MAX_KEPT; i++) {
		if (kept_files[i][0] != '\0')
			unlink(kept_files[i]);
		kept_files[i][0] = '\0';
	}
	for (size_t i = 0; i < MAX_KEPT; i++) {
		if (kept_dirs[i][0] != '\0')
			rmdir(kept_dirs[i]);
		kept_dirs[i][0] = '\0';
		config_free(kept_cfgs[i]);
		kept_cfgs[i] = NULL;
		free(kept_strs[i]);
		kept_strs[i] = NULL;
	}
	unsetenv("CREDENTIALS_DIRECTORY");
	unsetenv("EXTEND_API_KEY");
}

static struct config *
load_path_ok(const char *path)
{
	char err[CONFIG_ERR_SIZE] = "";
	struct config *cfg = config_load(path, err, sizeof(err));

	ck_assert_msg(cfg != NULL, "%s refused: %s", path, err);
	return keep_cfg(cfg);
}

static struct config *
load_ok(const char *text)
{
	return load_path_ok(write_tmp(text));
}

/* Load text, which must be refused; returns the reason (static) and the file's path in *path. */
static const char *
load_fail(const char *text, const char **path)
{
	static char err[CONFIG_ERR_SIZE];
	struct config *cfg;

	*path = write_tmp(text);
	memset(err, 0, sizeof(err));
	cfg = config_load(*path, err, sizeof(err));
	if (cfg != NULL)
		keep_cfg(cfg);
	ck_assert_msg(cfg == NULL, "accepted: %s", text);
	ck_assert_msg(strlen(err) > 10, "err is not readable: \"%s\"", err);
	return err;
}

/* err names path:line. */
static void
assert_names_line(const char *err, const char *path, int line)
{
	char where[128];

	snprintf(where, sizeof(where), "%s:%d", path, line);
	ck_assert_msg(strstr(err, where) != NULL, "\"%s\" does not name %s", err, where);
}

static void
assert_config_eq(const struct config *a, const struct config *b)
{
	ck_assert_str_eq(a->api.base_url, b->api.base_url);
	ck_assert_str_eq(a->api.version, b->api.version);
	ck_assert_str_eq(a->api.workspace_id, b->api.workspace_id);
	ck_assert_str_eq(a->api.token_file, b->api.token_file);
	ck_assert_double_eq(a->api.rate_limit, b->api.rate_limit);
	ck_assert_int_eq(a->api.max_in_flight, b->api.max_in_flight);
	ck_assert_double_eq(a->api.timeout, b->api.timeout);
	ck_assert_int_eq(a->api.max_response_size, b->api.max_response_size);
	ck_assert_str_eq(a->database.conninfo, b->database.conninfo);
	ck_assert_str_eq(a->database.schema, b->database.schema);
	ck_assert_int_eq(a->database.auto_migrate, b->database.auto_migrate);
	ck_assert_int_eq(a->sync.claim_batch, b->sync.claim_batch);
	ck_assert_int_eq(a->sync.max_pending_bytes, b->sync.max_pending_bytes);
	ck_assert_double_eq(a->sync.idle_poll, b->sync.idle_poll);
	ck_assert_double_eq(a->sync.lease, b->sync.lease);
	ck_assert_double_eq(a->sync.active_poll_min, b->sync.active_poll_min);
	ck_assert_double_eq(a->sync.active_poll_max, b->sync.active_poll_max);
	ck_assert_double_eq(a->sync.review_poll, b->sync.review_poll);
	ck_assert_double_eq(a->sync.retry_min, b->sync.retry_min);
	ck_assert_double_eq(a->sync.retry_max, b->sync.retry_max);
	ck_assert_int_eq(a->sync.max_attempts, b->sync.max_attempts);
	ck_assert_int_eq(a->sync.store_file_contents, b->sync.store_file_contents);
	ck_assert_int_eq(a->sync.history_days, b->sync.history_days);
	ck_assert_int_eq(a->log.level, b->log.level);
}

/* --- the file --- */

/* The defaults, as the contract lists them. */
START_TEST(test_defaults)
{
	struct config *d = keep_cfg(config_defaults());

	ck_assert_ptr_nonnull(d);
	ck_assert_str_eq(d->api.base_url, "https://api.extend.ai");
	ck_assert_str_eq(d->api.version, "2025-04-21");
	ck_assert_str_eq(d->api.workspace_id, "");
	ck_assert_str_eq(d->api.token_file, "");
	ck_assert_double_eq(d->api.rate_limit, 10.0);
	ck_assert_int_eq(d->api.max_in_flight, 8);
	ck_assert_double_eq(d->api.timeout, 60.0);
	ck_assert_int_eq(d->api.max_response_size, 67108864LL);
	ck_assert_str_eq(d->database.conninfo, "");
	ck_assert_str_eq(d->database.schema, "extend");
	ck_assert_str_eq(d->database.extracted_schema, "extend_extracted");
	ck_assert(d->database.auto_migrate);
	ck_assert_int_eq(d->sync.claim_batch, 64);
	ck_assert_int_eq(d->sync.max_pending_bytes, 2147483648LL);
	ck_assert_double_eq(d->sync.idle_poll, 5.0);
	ck_assert_double_eq(d->sync.lease, 300.0);
	ck_assert_double_eq(d->sync.active_poll_min, 1.0);
	ck_assert_double_eq(d->sync.active_poll_max, 30.0);
	ck_assert_double_eq(d->sync.review_poll, 600.0);
	ck_assert_double_eq(d->sync.retry_min, 1.0);
	ck_assert_double_eq(d->sync.retry_max, 300.0);
	ck_assert_int_eq(d->sync.max_attempts, 12);
	ck_assert(d->sync.store_file_contents);
	ck_assert_int_eq(d->sync.history_days, 0);
	ck_assert_int_eq(d->log.level, LOG_LEVEL_INFO);
	config_free(NULL);
}
END_TEST

/* etc/extend-syncd.conf ships every key with its default. */
START_TEST(test_shipped_file)
{
	const char *top = getenv("top_srcdir");
	char path[4096];
	struct config *cfg;

	snprintf(path, sizeof(path), "%s/etc/extend-syncd.conf", top != NULL && top[0] != '\0' ? top : ".");
	cfg = load_path_ok(path);
	ck_assert_str_eq(cfg->path, path);
	assert_config_eq(cfg, keep_cfg(config_defaults()));
}
END_TEST

START_TEST(test_empty_file)
{
	static const char *const texts[] = {
		"",
		"# nothing but a comment\n",
		"api: {};\ndatabase: {};\nsync: {};\nlog: {};\n",
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct config *cfg = load_ok(texts[i]);

		ck_assert_double_eq(cfg->api.rate_limit, 10.0);
		ck_assert_int_eq(cfg->api.max_in_flight, 8);
		ck_assert_double_eq(cfg->api.timeout, 60.0);
		ck_assert_int_eq(cfg->api.max_response_size, 67108864LL);
		ck_assert_str_eq(cfg->database.schema, "extend");
		ck_assert_int_eq(cfg->sync.claim_batch, 64);
		ck_assert_double_eq(cfg->sync.lease, 300.0);
		ck_assert_double_eq(cfg->sync.review_poll, 600.0);
		ck_assert_int_eq(cfg->sync.max_attempts, 12);
		ck_assert(cfg->sync.store_file_contents);
		ck_assert_int_eq(cfg->log.level, LOG_LEVEL_INFO);
		assert_config_eq(cfg, keep_cfg(config_defaults()));
	}
}
END_TEST

/* Every key lands in its own field. */
START_TEST(test_every_key)
{
	static const char text[] =
		"api: {\n"
		"  base_url = \"https://eu.api.extend.ai\";\n"
		"  version = \"2026-01-01\";\n"
		"  workspace_id = \"ws_123\";\n"
		"  token_file = \"/run/key\";\n"
		"  rate_limit = 25.5;\n"
		"  max_in_flight = 3;\n"
		"  timeout = 12.25;\n"
		"  max_response_size = 2048;\n"
		"};\n"
		"database: {\n"
		"  conninfo = \"host=/tmp dbname=x\";\n"
		"  schema = \"extend_2\";\n"
		"  auto_migrate = false;\n"
		"};\n"
		"sync: {\n"
		"  claim_batch = 7;\n"
		"  max_pending_bytes = 5000000000L;\n"
		"  idle_poll = 2.5;\n"
		"  lease = 45.0;\n"
		"  active_poll_min = 0.5;\n"
		"  active_poll_max = 20.0;\n"
		"  review_poll = 900.0;\n"
		"  retry_min = 3.0;\n"
		"  retry_max = 120.0;\n"
		"  max_attempts = 5;\n"
		"  store_file_contents = false;\n"
		"  history_days = 90;\n"
		"};\n"
		"log: {\n"
		"  level = \"debug\";\n"
		"};\n";
	struct config *cfg = load_ok(text);

	ck_assert_str_eq(cfg->api.base_url, "https://eu.api.extend.ai");
	ck_assert_str_eq(cfg->api.version, "2026-01-01");
	ck_assert_str_eq(cfg->api.workspace_id, "ws_123");
	ck_assert_str_eq(cfg->api.token_file, "/run/key");
	ck_assert_double_eq(cfg->api.rate_limit, 25.5);
	ck_assert_int_eq(cfg->api.max_in_flight, 3);
	ck_assert_double_eq(cfg->api.timeout, 12.25);
	ck_assert_int_eq(cfg->api.max_response_size, 2048);
	ck_assert_str_eq(cfg->database.conninfo, "host=/tmp dbname=x");
	ck_assert_str_eq(cfg->database.schema, "extend_2");
	ck_assert(!cfg->database.auto_migrate);
	ck_assert_int_eq(cfg->sync.claim_batch, 7);
	ck_assert_int_eq(cfg->sync.max_pending_bytes, 5000000000LL);
	ck_assert_double_eq(cfg->sync.idle_poll, 2.5);
	ck_assert_double_eq(cfg->sync.lease, 45.0);
	ck_assert_double_eq(cfg->sync.active_poll_min, 0.5);
	ck_assert_double_eq(cfg->sync.active_poll_max, 20.0);
	ck_assert_double_eq(cfg->sync.review_poll, 900.0);
	ck_assert_double_eq(cfg->sync.retry_min, 3.0);
	ck_assert_double_eq(cfg->sync.retry_max, 120.0);
	ck_assert_int_eq(cfg->sync.max_attempts, 5);
	ck_assert(!cfg->sync.store_file_contents);
	ck_assert_int_eq(cfg->sync.history_days, 90);
	ck_assert_int_eq(cfg->log.level, LOG_LEVEL_DEBUG);
}
END_TEST

/* An integer where a float is expected is a number all the same; 64-bit integers fit the size key. */
START_TEST(test_integer_for_float)
{
	struct config *cfg = load_ok("api: { timeout = 5; rate_limit = 3; max_response_size = 134217728L; };\n"
				     "sync: { lease = 10L; };\n");

	ck_assert_double_eq(cfg->api.timeout, 5.0);
	ck_assert_double_eq(cfg->api.rate_limit, 3.0);
	ck_assert_int_eq(cfg->api.max_response_size, 134217728LL);
	ck_assert_double_eq(cfg->sync.lease, 10.0);
}
END_TEST

struct bad_value {
	const char *group;
	const char *key;
	const char *value;
};

/* Out of range: refused, naming the key and FILE:LINE. */
static const struct bad_value out_of_range[] = {
	{ "api", "rate_limit", "0.0" },
	{ "api", "rate_limit", "-1.0" },
	{ "api", "rate_limit", "10000.5" },
	{ "api", "max_in_flight", "0" },
	{ "api", "max_in_flight", "1001" },
	{ "api", "timeout", "0.05" },
	{ "api", "timeout", "1e309" },
	{ "api", "max_response_size", "1023" },
	{ "api", "max_response_size", "4294967297L" },
	/* over 128 MiB: more than jsonb can surely hold in workflow_runs.raw */
	{ "api", "max_response_size", "134217729L" },
	{ "api", "max_response_size", "1073741824L" },
	{ "sync", "claim_batch", "0" },
	{ "sync", "claim_batch", "3000000000L" },
	{ "sync", "idle_poll", "0.0" },
	{ "sync", "lease", "0.5" },
	{ "sync", "active_poll_min", "0.0" },
	{ "sync", "active_poll_max", "100000.0" },
	{ "sync", "review_poll", "1e9" },
	{ "sync", "retry_min", "-5.0" },
	{ "sync", "retry_max", "1e9" },
	{ "sync", "max_attempts", "0" },
	{ "sync", "max_attempts", "1001" },
	{ "sync", "history_days", "-1" },
	{ "sync", "history_days", "36501" },
	{ "sync", "max_pending_bytes", "1048575" },
	{ "sync", "max_pending_bytes", "-1" },
	{ "sync", "max_pending_bytes", "2147483648" },
};

START_TEST(test_out_of_range)
{
	const struct bad_value *b = &out_of_range[_i];
	char text[256], name[64];
	const char *path, *err;

	snprintf(text, sizeof(text), "# line 1\n%s: {\n  %s = %s;\n};\n", b->group, b->key, b->value);
	snprintf(name, sizeof(name), "%s.%s", b->group, b->key);
	err = load_fail(text, &path);
	ck_assert_msg(strstr(err, name) != NULL, "\"%s\" does not name %s", err, name);
	assert_names_line(err, path, 3);
}
END_TEST

/* The ends of each range are accepted. */
START_TEST(test_range_limits)
{
	struct config *cfg = load_ok("api: { rate_limit = 0.01; max_in_flight = 1000; timeout = 86400.0;\n"
				     "  max_response_size = 1024; };\n"
				     "sync: { claim_batch = 10000; max_attempts = 1; lease = 604800.0;\n"
				     "  max_pending_bytes = 1048576; };\n");

	ck_assert_double_eq(cfg->api.rate_limit, 0.01);
	ck_assert_int_eq(cfg->api.max_in_flight, 1000);
	ck_assert_double_eq(cfg->api.timeout, 86400.0);
	ck_assert_int_eq(cfg->api.max_response_size, 1024);
	ck_assert_int_eq(cfg->sync.claim_batch, 10000);
	ck_assert_int_eq(cfg->sync.max_attempts, 1);
	ck_assert_int_eq(cfg->sync.max_pending_bytes, 1048576);
}
END_TEST

/* Wrong type: refused, naming the key and FILE:LINE. */
static const struct bad_value wrong_type[] = {
	{ "api", "max_in_flight", "\"8\"" },
	{ "api", "max_in_flight", "5.0" },
	{ "api", "timeout", "\"60\"" },
	{ "api", "base_url", "5" },
	{ "api", "token_file", "true" },
	{ "database", "auto_migrate", "1" },
	{ "database", "auto_migrate", "\"true\"" },
	{ "database", "schema", "[\"extend\"]" },
	{ "sync", "claim_batch", "true" },
	{ "sync", "store_file_contents", "\"false\"" },
	{ "log", "level", "3" },
	{ "log", "level", "\"verbose\"" },
};

START_TEST(test_wrong_type)
{
	const struct bad_value *b = &wrong_type[_i];
	char text[256], name[64];
	const char *path, *err;

	snprintf(text, sizeof(text), "\n\n\n%s: {\n  %s = %s;\n};\n", b->group, b->key, b->value);
	snprintf(name, sizeof(name), "%s.%s", b->group, b->key);
	err = load_fail(text, &path);
	ck_assert_msg(strstr(err, name) != NULL, "\"%s\" does not name %s", err, name);
	assert_names_line(err, path, 5);
}
END_TEST

/* A typo must not pass silently. */
START_TEST(test_unknown_key)
{
	const char *path, *err;

	err = load_fail("api: { rate_limt = 5.0; };\n", &path);
	ck_assert_ptr_nonnull(strstr(err, "rate_limt"));
	assert_names_line(err, path, 1);

	err = load_fail("sync: {\n  lease = 30.0;\n  lease_time = 30.0;\n};\n", &path);
	ck_assert_ptr_nonnull(strstr(err, "lease_time"));
	assert_names_line(err, path, 3);

	err = load_fail("apis: { rate_limit = 5.0; };\n", &path);
	ck_assert_ptr_nonnull(strstr(err, "apis"));

	err = load_fail("\nrate_limit = 5.0;\n", &path);
	ck_assert_ptr_nonnull(strstr(err, "rate_limit"));
	assert_names_line(err, path, 2);

	err = load_fail("api: { sub: { timeout = 5.0; }; };\n", &path);
	ck_assert_ptr_nonnull(strstr(err, "sub"));
}
END_TEST

START_TEST(test_syntax_error)
{
	const char *path, *err;

	err = load_fail("api: {\n  timeout = 5.0;\n  rate_limit = ;\n};\n", &path);
	assert_names_line(err, path, 3);
	err = load_fail("api: {\n  base_url = \"https://x;\n};\n", &path);
	ck_assert_ptr_nonnull(strstr(err, path));
	err = load_fail("api: {\n\n\n\n  timeout = 5.0\n  rate_limit 3.0;\n};\n", &path);
	assert_names_line(err, path, 6);
}
END_TEST

START_TEST(test_missing_file)
{
	char err[CONFIG_ERR_SIZE] = "";
	const char *path = "/tmp/check_config_does_not_exist/extend-syncd.conf";
	struct config *cfg = config_load(path, err, sizeof(err));

	if (cfg != NULL)
		keep_cfg(cfg);
	ck_assert_ptr_null(cfg);
	ck_assert_msg(strstr(err, path) != NULL, "\"%s\" does not name the file", err);
}
END_TEST

/* --- cross-key checks --- */

static const struct {
	const char *url;
	bool ok;
} base_urls[] = {
	{ "https://api.extend.ai", true },
	{ "https://api.extend.ai/", true },
	{ "https://eu.api.extend.ai:8443/base", true },
	{ "http://127.0.0.1", true },
	{ "http://127.0.0.1:8080", true },
	{ "http://127.0.0.1:8080/", true },
	{ "http://127.1.2.3:9", true },
	{ "http://localhost", true },
	{ "http://localhost:8080", true },
	{ "http://localhost/api", true },
	{ "http://[::1]", true },
	{ "http://[::1]:8080/", true },
	{ "http://api.extend.ai", false },
	{ "http://example.com:80", false },
	{ "http://localhost.evil.com", false },
	{ "http://localhostx", false },
	{ "http://127.evil.com", false },
	{ "http://[::1].evil.com", false },
	{ "http://[::2]", false },
	{ "http://evil.com/localhost", false },
	{ "http://evil.com/?u=http://localhost", false },
	{ "ftp://localhost", false },
	{ "api.extend.ai", false },
	{ "", false },
	{ "https://", false },
	{ "https://api.extend.ai/ x", false },
	{ "https://api.extend.ai\\n", false },	/* a newline, once libconfig reads the escape */
};

START_TEST(test_base_url)
{
	char text[256];

	snprintf(text, sizeof(text), "api: {\n  base_url = \"%s\";\n};\n", base_urls[_i].url);
	if (base_urls[_i].ok) {
		ck_assert_str_eq(load_ok(text)->api.base_url, base_urls[_i].url);
	} else {
		const char *path;
		const char *err = load_fail(text, &path);

		ck_assert_msg(strstr(err, "api.base_url") != NULL, "\"%s\" does not name api.base_url", err);
	}
}
END_TEST

/*
 * Hosts that only start like a loopback address: a longer name, and
 * userinfo before an '@' (curl connects to the host after the '@').
 */
static const char *const lookalikes[] = {
	"http://127.0.0.1.evil.com",
	"http://127.0.0.1.nip.io:8080/",
	"http://127.0.0.1@evil.com",
	"http://127.0.0.1:8080@evil.com",
	"http://localhost:80@evil.com",
	"http://localhost:@evil.com",
	"http://[::1]:1@evil.com",
};

START_TEST(test_base_url_lookalikes)
{
	char text[256];
	const char *path, *err;

	ck_assert_msg(!config_url_is_loopback(lookalikes[_i]), "config_url_is_loopback(\"%s\") is true",
		      lookalikes[_i]);
	snprintf(text, sizeof(text), "api: { base_url = \"%s\"; };\n", lookalikes[_i]);
	err = load_fail(text, &path);
	ck_assert_ptr_nonnull(strstr(err, "api.base_url"));
}
END_TEST

START_TEST(test_url_is_loopback)
{
	ck_assert(config_url_is_loopback("http://127.0.0.1"));
	ck_assert(config_url_is_loopback("http://127.0.0.1:8080/x"));
	ck_assert(config_url_is_loopback("http://localhost"));
	ck_assert(config_url_is_loopback("http://localhost:1/"));
	ck_assert(config_url_is_loopback("http://[::1]"));
	ck_assert(config_url_is_loopback("http://[::1]:8080"));
	ck_assert(!config_url_is_loopback("http://localhost.evil.com"));
	ck_assert(!config_url_is_loopback("http://example.com"));
	ck_assert(!config_url_is_loopback("http://evil.com/127.0.0.1"));
	ck_assert(!config_url_is_loopback("localhost"));
	ck_assert(!config_url_is_loopback("127.0.0.1"));
	ck_assert(!config_url_is_loopback(""));
}
END_TEST

START_TEST(test_url_for_log)
{
	char buf[128];

	ck_assert_str_eq(config_url_for_log("https://extend:sekrit@proxy.example/v1", buf, sizeof(buf)),
			 "https://***@proxy.example/v1");
	ck_assert_str_eq(config_url_for_log("https://sekrit@proxy.example", buf, sizeof(buf)), "https://***@proxy.example");
	ck_assert_str_eq(config_url_for_log("https://u:p@ss@proxy.example", buf, sizeof(buf)), "https://***@proxy.example");
	ck_assert_str_eq(config_url_for_log("https://api.extend.ai", buf, sizeof(buf)), "https://api.extend.ai");
	/* an @ past the host is the path's */
	ck_assert_str_eq(config_url_for_log("https://api.extend.ai/a@b", buf, sizeof(buf)), "https://api.extend.ai/a@b");
	ck_assert_str_eq(config_url_for_log("no scheme", buf, sizeof(buf)), "no scheme");
}
END_TEST

START_TEST(test_poll_order)
{
	const char *path, *err;
	struct config *cfg;

	err = load_fail("sync: { retry_min = 10.0; retry_max = 5.0; };\n", &path);
	ck_assert_ptr_nonnull(strstr(err, "sync.retry_min"));
	ck_assert_ptr_nonnull(strstr(err, "sync.retry_max"));
	ck_assert_ptr_nonnull(strstr(err, path));
	err = load_fail("sync: { retry_min = 400.0; };\n", &path);	/* above the default retry_max */
	ck_assert_ptr_nonnull(strstr(err, "sync.retry_min"));
	err = load_fail("sync: { active_poll_min = 31.0; active_poll_max = 30.0; };\n", &path);
	ck_assert_ptr_nonnull(strstr(err, "sync.active_poll_min"));

	cfg = load_ok("sync: { retry_min = 5.0; retry_max = 5.0; active_poll_min = 2.0; active_poll_max = 2.0; };\n");
	ck_assert_double_eq(cfg->sync.retry_min, 5.0);
	ck_assert_double_eq(cfg->sync.retry_max, 5.0);
	ck_assert_double_eq(cfg->sync.active_poll_max, 2.0);
}
END_TEST

static const struct {
	const char *schema;
	bool ok;
} schemas[] = {
	{ "extend", true },
	{ "extend_2", true },
	{ "_x", true },
	{ "abcdefghijklmnopqrstuvwxyz_abcdefghijklmnopqrstuvwxyz_0123456789", false },	/* 64 */
	/* "<schema>.sync_queue", enqueue()'s NOTIFY channel, must fit in 63 bytes */
	{ "abcdefghijklmnopqrstuvwxyz_abcdefghijklmnopqrstuvwxyz_012345678", false },	/* 63 */
	{ "abcdefghijklmnopqrstuvwxyz_abcdefghijklmnopqrstuvwxyz", false },	/* 53 */
	{ "abcdefghijklmnopqrstuvwxyz_abcdefghijklmnopqrstuvwxy", true },	/* 52 */
	{ "", false },
	{ "Extend", false },
	{ "ext-end", false },
	{ "1extend", false },
	{ "ext end", false },
	{ "ext.end", false },
	{ "ext\\\"end", false },
	{ "ext;drop", false },
	{ "\xc3\xa9xtend", false },
};

START_TEST(test_schema_name)
{
	char text[256];

	snprintf(text, sizeof(text), "database: { schema = \"%s\"; };\n", schemas[_i].schema);
	if (schemas[_i].ok) {
		ck_assert_str_eq(load_ok(text)->database.schema, schemas[_i].schema);
	} else {
		const char *path;
		const char *err = load_fail(text, &path);

		ck_assert_msg(strstr(err, "database.schema") != NULL, "\"%s\" does not name database.schema", err);
	}
}
END_TEST

/* database.extracted_schema: an identifier of up to 63 bytes (no channel name to fit), not the daemon's schema. */
START_TEST(test_extracted_schema)
{
	const char *path, *err;

	ck_assert_str_eq(load_ok("database: { extracted_schema = \"views\"; };\n")->database.extracted_schema, "views");
	ck_assert_str_eq(load_ok("database: { extracted_schema = "
				 "\"abcdefghijklmnopqrstuvwxyz_abcdefghijklmnopqrstuvwxyz_012345678\"; };\n")
				 ->database.extracted_schema,
			 "abcdefghijklmnopqrstuvwxyz_abcdefghijklmnopqrstuvwxyz_012345678");
	err = load_fail("database: { extracted_schema = "
			"\"abcdefghijklmnopqrstuvwxyz_abcdefghijklmnopqrstuvwxyz_0123456789\"; };\n", &path);
	ck_assert_ptr_nonnull(strstr(err, "database.extracted_schema"));
	err = load_fail("database: { extracted_schema = \"Bad-Name\"; };\n", &path);
	ck_assert_ptr_nonnull(strstr(err, "database.extracted_schema"));
	err = load_fail("database: { extracted_schema = \"\"; };\n", &path);
	ck_assert_ptr_nonnull(strstr(err, "database.extracted_schema"));
	err = load_fail("database: { schema = \"views\"; extracted_schema = \"views\"; };\n", &path);
	ck_assert_ptr_nonnull(strstr(err, "must not be database.schema"));
	err = load_fail("database: { extracted_schema = \"pg_views\"; };\n", &path);
	ck_assert_ptr_nonnull(strstr(err, "must not begin with \"pg_\""));
	err = load_fail("database: { schema = \"pg_extend\"; };\n", &path);
	ck_assert_ptr_nonnull(strstr(err, "must not begin with \"pg_\""));
}
END_TEST

START_TEST(test_other_strings)
{
	const char *path, *err;

	err = load_fail("api: { version = \"\"; };\n", &path);
	ck_assert_ptr_nonnull(strstr(err, "api.version"));
	err = load_fail("api: { version = \"2025 04 21\"; };\n", &path);
	ck_assert_ptr_nonnull(strstr(err, "api.version"));
	err = load_fail("api: { workspace_id = \"ws 1\"; };\n", &path);
	ck_assert_ptr_nonnull(strstr(err, "api.workspace_id"));
	ck_assert_int_eq(load_ok("log: { level = \"error\"; };")->log.level, LOG_LEVEL_ERROR);
	ck_assert_int_eq(load_ok("log: { level = \"warning\"; };")->log.level, LOG_LEVEL_WARNING);
}
END_TEST

/* "%i" in log.metrics_file: the configuration file's name without ".conf" (a template instance's name). */
START_TEST(test_metrics_file_instance)
{
	const char *dir = make_tmp_dir();
	const char *books = write_file_in(dir, "books.conf", "log: { metrics_file = \"/m/extend_syncd_%i.prom\"; };\n");
	const char *other = write_file_in(dir, "other", "log: { metrics_file = \"/m/%i/%i-%x.prom\"; };\n");

	ck_assert_str_eq(load_path_ok(books)->log.metrics_file, "/m/extend_syncd_books.prom");
	ck_assert_str_eq(load_path_ok(other)->log.metrics_file, "/m/other/other-%x.prom");
	ck_assert_str_eq(load_ok("log: { metrics_file = \"/m/plain.prom\"; };")->log.metrics_file, "/m/plain.prom");
}
END_TEST

/* --- the API key --- */

static struct config *
cfg_with_token_file(const char *token_file)
{
	struct config *cfg = keep_cfg(config_defaults());

	ck_assert_ptr_nonnull(cfg);
	free(cfg->api.token_file);
	cfg->api.token_file = strdup(token_file);
	ck_assert_ptr_nonnull(cfg->api.token_file);
	return cfg;
}

static const char *
key_ok(const struct config *cfg)
{
	char err[CONFIG_ERR_SIZE] = "";
	char *key = config_load_api_key(cfg, err, sizeof(err));

	ck_assert_msg(key != NULL, "no key: %s", err);
	return keep_str(key);
}

/* The key must be refused; the reason never contains the key ("SECRET" is in every test key). */
static const char *
key_fail(const struct config *cfg)
{
	static char err[CONFIG_ERR_SIZE];
	char *key;

	memset(err, 0, sizeof(err));
	key = config_load_api_key(cfg, err, sizeof(err));
	if (key != NULL)
		keep_str(key);
	ck_assert_msg(key == NULL, "key accepted: \"%s\"", key);
	ck_assert_msg(strlen(err) > 10, "err is not readable: \"%s\"", err);
	ck_assert_msg(strstr(err, "SECRET") == NULL, "err contains the key: %s", err);
	ck_assert_msg(strstr(err, "sk_test") == NULL, "err contains the key: %s", err);
	return err;
}

START_TEST(test_key_token_file)
{
	static const char *const contents[] = {
		"sk_test_SECRET123",
		"sk_test_SECRET123\n",
		"sk_test_SECRET123\r\n",
		"sk_test_SECRET123  \t\n",
		"sk_test_SECRET123\nsecond line\n",
	};

	for (size_t i = 0; i < sizeof(contents) / sizeof(contents[0]); i++)
		ck_assert_str_eq(key_ok(cfg_with_token_file(write_tmp(contents[i]))), "sk_test_SECRET123");
}
END_TEST

/* token_file, then $CREDENTIALS_DIRECTORY/extend-api-key, then $EXTEND_API_KEY. */
START_TEST(test_key_order)
{
	const char *dir = make_tmp_dir();
	const char *file = write_tmp("sk_test_SECRET_file\n");

	write_file_in(dir, "extend-api-key", "sk_test_SECRET_cred\n");
	ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", dir, 1), 0);
	ck_assert_int_eq(setenv("EXTEND_API_KEY", "sk_test_SECRET_env", 1), 0);
	ck_assert_str_eq(key_ok(cfg_with_token_file(file)), "sk_test_SECRET_file");
	ck_assert_str_eq(key_ok(cfg_with_token_file("")), "sk_test_SECRET_cred");
	ck_assert_int_eq(unsetenv("CREDENTIALS_DIRECTORY"), 0);
	ck_assert_str_eq(key_ok(cfg_with_token_file("")), "sk_test_SECRET_env");
	ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", "", 1), 0);	/* empty: not set */
	ck_assert_str_eq(key_ok(cfg_with_token_file("")), "sk_test_SECRET_env");
}
END_TEST

START_TEST(test_key_none)
{
	const char *err;

	err = key_fail(cfg_with_token_file(""));
	ck_assert_msg(strstr(err, "api.token_file") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "extend-api-key") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "EXTEND_API_KEY") != NULL, "%s", err);

	ck_assert_int_eq(setenv("EXTEND_API_KEY", "", 1), 0);	/* empty: not set */
	err = key_fail(cfg_with_token_file(""));
	ck_assert_ptr_nonnull(strstr(err, "EXTEND_API_KEY"));
}
END_TEST

START_TEST(test_key_token_file_missing)
{
	const char *path = "/tmp/check_config_no_such_key_file";
	const char *err;

	ck_assert_int_eq(setenv("EXTEND_API_KEY", "sk_test_SECRET_env", 1), 0);
	err = key_fail(cfg_with_token_file(path));
	ck_assert_msg(strstr(err, path) != NULL, "\"%s\" does not name the file", err);
}
END_TEST

/* Keys that cannot go into an HTTP header are refused, from every source, without being quoted. */
static const char *const bad_keys[] = {
	"sk_test SECRET123",
	"sk_test_SECRET123 x",
	" sk_test_SECRET123",
	"\tsk_test_SECRET123",
	"sk_test_\001SECRET123",
	"sk_test_\033[31mSECRET123",
	"sk_test_\177SECRET123",
	"sk_test_SECRET123\xc3\xa9",
	"",
	"\n",
	"   \n",
};

START_TEST(test_key_refused)
{
	const char *bad = bad_keys[_i];
	const char *dir;

	key_fail(cfg_with_token_file(write_tmp(bad)));

	dir = make_tmp_dir();
	write_file_in(dir, "extend-api-key", bad);
	ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", dir, 1), 0);
	key_fail(cfg_with_token_file(""));
	ck_assert_int_eq(unsetenv("CREDENTIALS_DIRECTORY"), 0);

	if (bad[0] != '\0') {
		ck_assert_int_eq(setenv("EXTEND_API_KEY", bad, 1), 0);
		key_fail(cfg_with_token_file(""));
	}
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("file");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_shipped_file);
	tcase_add_test(tc, test_empty_file);
	tcase_add_test(tc, test_every_key);
	tcase_add_test(tc, test_integer_for_float);
	tcase_add_loop_test(tc, test_out_of_range, 0, (int)(sizeof(out_of_range) / sizeof(out_of_range[0])));
	tcase_add_test(tc, test_range_limits);
	tcase_add_loop_test(tc, test_wrong_type, 0, (int)(sizeof(wrong_type) / sizeof(wrong_type[0])));
	tcase_add_test(tc, test_unknown_key);
	tcase_add_test(tc, test_syntax_error);
	tcase_add_test(tc, test_missing_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("checks");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_base_url, 0, (int)(sizeof(base_urls) / sizeof(base_urls[0])));
	tcase_add_loop_test(tc, test_base_url_lookalikes, 0, (int)(sizeof(lookalikes) / sizeof(lookalikes[0])));
	tcase_add_test(tc, test_url_is_loopback);
	tcase_add_test(tc, test_url_for_log);
	tcase_add_test(tc, test_poll_order);
	tcase_add_loop_test(tc, test_schema_name, 0, (int)(sizeof(schemas) / sizeof(schemas[0])));
	tcase_add_test(tc, test_other_strings);
	tcase_add_test(tc, test_metrics_file_instance);
	tcase_add_test(tc, test_extracted_schema);
	suite_add_tcase(s, tc);

	tc = tcase_create("api key");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_key_token_file);
	tcase_add_test(tc, test_key_order);
	tcase_add_test(tc, test_key_none);
	tcase_add_test(tc, test_key_token_file_missing);
	tcase_add_loop_test(tc, test_key_refused, 0, (int)(sizeof(bad_keys) / sizeof(bad_keys[0])));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
