/* Discovery: list requests, list pages, the stop rule, and the queue changes and source state of a sweep. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>

#include "buf.h"
#include "db.h"
#include "discover.h"
#include "schedule.h"
#include "text.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Parse an RFC 3339 time; see discover.h. */
int
discover_parse_time(const char *s, int64_t *us)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, sec, frac = 0, off = 0;
	const char *p;

	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    s[13] != ':' || s[16] != ':')
		return -1;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	sec = digits(s + 17, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    sec < 0 || sec > 60)
		return -1;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -1;
	p = s + 19;
	if (*p == '.') {
		int n = 0;

		for (p++; isdigit((unsigned char)*p); p++, n++) {
			if (n < 6)
				frac = frac * 10 + (*p - '0');
		}
		if (n == 0)
			return -1;
		for (; n < 6; n++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh = digits(p + 1, 2), om;

		if (oh < 0 || p[3] != ':')
			return -1;
		om = digits(p + 4, 2);
		if (om < 0 || oh > 23 || om > 59)
			return -1;
		off = (oh * 60 + om) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	*us = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) - (int64_t)off * 60) * 1000000 + frac;
	return 0;
}

/* us as RFC 3339 in UTC; see discover.h. */
void
discover_format_time(int64_t us, char *out, size_t outlen)
{
	int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
	int64_t frac = us - secs * 1000000;
	int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	int64_t rem = secs - days * 86400;
	/* civil_from_days */
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = yoe + era * 400;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;

	y += m <= 2;
	snprintf(out, outlen, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%06lldZ", (long long)y, (long long)m,
		 (long long)d, (long long)(rem / 3600), (long long)(rem / 60 % 60), (long long)(rem % 60),
		 (long long)frac);
}

/* Append "&name=value" (value URL-encoded) to out at *pos; -1 when it does not fit. */
static int
add_param(char *out, size_t outlen, size_t *pos, const char *name, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	int n = snprintf(out + *pos, outlen - *pos, "%s%s=", *pos > 0 && out[*pos - 1] != '?' ? "&" : "", name);

	if (n < 0 || (size_t)n >= outlen - *pos)
		return -1;
	*pos += (size_t)n;
	for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++) {
		if (*pos + 4 > outlen)
			return -1;
		if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
			out[(*pos)++] = (char)*p;
		} else {
			out[(*pos)++] = '%';
			out[(*pos)++] = hex[*p >> 4];
			out[(*pos)++] = hex[*p & 15];
		}
	}
	out[*pos] = '\0';
	return 0;
}

/* The path and query of a list request; see discover.h. */
int
discover_list_path(char *out, size_t outlen, int page_size, const char *workflow_id, const char *batch_id,
		   const char *token)
{
	char size[16];
	size_t pos;
	int n = snprintf(out, outlen, "/workflow_runs?");

	if (n < 0 || (size_t)n >= outlen)
		return -1;
	pos = (size_t)n;
	snprintf(size, sizeof(size), "%d", page_size);
	if (add_param(out, outlen, &pos, "sortBy", "updatedAt") < 0 ||
	    add_param(out, outlen, &pos, "sortDir", "desc") < 0 ||
	    add_param(out, outlen, &pos, "maxPageSize", size) < 0)
		return -1;
	if (workflow_id != NULL && add_param(out, outlen, &pos, "workflowId", workflow_id) < 0)
		return -1;
	if (batch_id != NULL && add_param(out, outlen, &pos, "batchId", batch_id) < 0)
		return -1;
	if (token != NULL && add_param(out, outlen, &pos, "nextPageToken", token) < 0)
		return -1;
	return 0;
}

void
discover_page_free(struct list_page *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nruns; i++) {
		free(p->runs[i].id);
		free(p->runs[i].status);
		free(p->runs[i].workflow_id);
		free(p->runs[i].updated_at);
	}
	free(p->runs);
	for (size_t i = 0; i < p->nskipped; i++)
		free(p->skipped[i].id);
	free(p->skipped);
	free(p->next_token);
	free(p);
}

static const char *
get_string(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	/* a string with a NUL (\u0000) in it would be read cut short: not one */
	if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
		return NULL;
	return json_object_get_string(v);
}

/* True when s is printable text without control characters (a status, a token). */
static bool
printable(const char *s, size_t max)
{
	size_t n = 0;

	for (; *s != '\0'; s++, n++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f || n >= max)
			return false;
	}
	return n > 0;
}

/* A fingerprint; see discover.h. */
uint64_t
discover_summary_key(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/*
 * One element r of "workflowRuns" into p: a summary with a valid ID into
 * runs[] (with what it lacks), anything else into skipped[].  Returns 0 or
 * -ENOMEM.  The arrays have room for every element.
 */
static int
parse_summary(struct list_page *p, json_object *r)
{
	json_object *idv = NULL;
	const char *id = json_object_is_type(r, json_type_object) ? get_string(r, "id") : NULL;
	const char *status, *updated, *wf;
	struct run_summary *s;
	int64_t us = INT64_MAX;
	bool status_ok, time_ok;

	if (id == NULL || !schedule_run_id_valid(id)) {
		struct skipped_summary *k = &p->skipped[p->nskipped];
		const char *text;

		if (json_object_is_type(r, json_type_object) && json_object_object_get_ex(r, "id", &idv) &&
		    json_object_is_type(idv, json_type_string)) {
			char shown[80];

			text = json_object_get_string(idv);
			k->key = discover_summary_key(text, (size_t)json_object_get_string_len(idv));
			text_clean(shown, sizeof(shown), text);
			k->id = strdup(shown);
			if (k->id == NULL)
				return -ENOMEM;
			k->why = "an \"id\" that is not a run ID";
		} else {
			/* nothing names it: its whole text tells it from another */
			text = json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN);
			k->key = discover_summary_key(text != NULL ? text : "", text != NULL ? strlen(text) : 0);
			k->why = !json_object_is_type(r, json_type_object) ? "not a JSON object" :
				idv != NULL && !json_object_is_type(idv, json_type_null) ?
				"an \"id\" that is not a string" : "no \"id\"";
		}
		p->nskipped++;
		p->nmalformed++;
		return 0;
	}
	status = get_string(r, "status");
	updated = get_string(r, "updatedAt");
	wf = get_string(r, "workflowId");
	status_ok = status != NULL && printable(status, 64);
	time_ok = updated != NULL && discover_parse_time(updated, &us) == 0;
	if (!time_ok)
		us = INT64_MAX;	/* a summary without a usable time is treated as newest */
	s = &p->runs[p->nruns++];
	s->updated_us = us;
	s->id = strdup(id);
	s->status = status_ok ? strdup(status) : NULL;
	s->updated_at = time_ok ? strdup(updated) : NULL;
	s->workflow_id = wf != NULL && schedule_run_id_valid(wf) ? strdup(wf) : NULL;
	if (s->id == NULL || (status_ok && s->status == NULL) || (time_ok && s->updated_at == NULL) ||
	    (wf != NULL && schedule_run_id_valid(wf) && s->workflow_id == NULL))
		return -ENOMEM;
	if (!status_ok || !time_ok) {
		s->malformed = !status_ok && !time_ok ? "no valid \"status\" nor \"updatedAt\"" :
			!status_ok ? "no valid \"status\"" : "no valid \"updatedAt\"";
		p->nmalformed++;
	}
	return 0;
}

/* Parse a list page; see discover.h. */
int
discover_parse_page(const char *body, size_t len, struct list_page **out, char *err, size_t errlen)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *root = NULL, *runs, *v;
	struct list_page *p = NULL;
	int rc = -EINVAL;
	size_t n;

	*out = NULL;
	if (tok == NULL)
		return -ENOMEM;
	if (len > 0)
		root = json_tokener_parse_ex(tok, body, (int)len);
	if (root == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) < len) {
		/* trailing blanks are fine; anything else is a cut or garbled page */
		size_t end = root != NULL ? json_tokener_get_parse_end(tok) : 0;

		while (root != NULL && end < len && isspace((unsigned char)body[end]))
			end++;
		if (root == NULL || end < len) {
			snprintf(err, errlen, "the list page is not valid JSON (truncated?)");
			goto out;
		}
	}
	if (!json_object_is_type(root, json_type_object)) {
		snprintf(err, errlen, "the list page is not a JSON object");
		goto out;
	}
	if (json_object_object_get_ex(root, "success", &v) && !json_object_get_boolean(v)) {
		snprintf(err, errlen, "the list page says \"success\": false");
		goto out;
	}
	if (!json_object_object_get_ex(root, "workflowRuns", &runs) || !json_object_is_type(runs, json_type_array)) {
		snprintf(err, errlen, "the list page has no \"workflowRuns\" array");
		goto out;
	}
	p = calloc(1, sizeof(*p));
	n = json_object_array_length(runs);
	if (p == NULL || (n > 0 && ((p->runs = calloc(n, sizeof(*p->runs))) == NULL ||
				    (p->skipped = calloc(n, sizeof(*p->skipped))) == NULL))) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		rc = parse_summary(p, json_object_array_get_idx(runs, i));
		if (rc < 0)
			goto out;
	}
	rc = -EINVAL;
	if (json_object_object_get_ex(root, "nextPageToken", &v) && !json_object_is_type(v, json_type_null)) {
		const char *t = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;

		if (t == NULL || (t[0] != '\0' && !printable(t, 4096))) {
			snprintf(err, errlen, "the list page has an invalid \"nextPageToken\"");
			goto out;
		}
		if (t[0] != '\0') {
			p->next_token = strdup(t);
			if (p->next_token == NULL) {
				rc = -ENOMEM;
				goto out;
			}
		}
	}
	*out = p;
	p = NULL;
	rc = 0;
out:
	discover_page_free(p);
	if (root != NULL)
		json_object_put(root);
	json_tokener_free(tok);
	return rc;
}

/* The stop rule; see discover.h. */
size_t
discover_page_cut(const struct list_page *p, int64_t cutoff_us)
{
	for (size_t i = 0; i < p->nruns; i++) {
		if (p->runs[i].updated_us < cutoff_us)
			return i;
	}
	return p->nruns;
}

/* Where a sweep stops; see discover.h. */
int64_t
discover_cutoff(bool has_high_water, int64_t high_water_us, double overlap, bool has_since, int64_t since_us)
{
	int64_t cut = INT64_MIN;

	if (has_high_water)
		cut = high_water_us - (int64_t)(overlap * 1e6);
	if (has_since && since_us > cut)
		cut = since_us;
	return cut;
}

bool
discover_enabled(const struct config *cfg)
{
	return cfg->discover.all_runs || cfg->discover.workflow_ids[0] != NULL;
}

/* Whether a run of workflow_id is covered; see discover.h. */
bool
discover_covers(const struct config *cfg, const char *workflow_id)
{
	if (cfg->discover.all_runs)
		return true;
	for (size_t i = 0; workflow_id != NULL && cfg->discover.workflow_ids[i] != NULL; i++) {
		if (strcmp(cfg->discover.workflow_ids[i], workflow_id) == 0)
			return true;
	}
	return false;
}

/*
 * --enqueue-workflow and --enqueue-batch (force) make every listed run due
 * but those done whose summary shows the status and updatedAt they were
 * fetched with: fetching them again would change nothing.
 */
#define DONE_UNCHANGED \
	"(q.state = 'done' AND s.status IS NOT NULL AND s.status IS NOT DISTINCT FROM q.last_status " \
	"  AND s.updated_at IS NOT NULL AND q.fetched_updated_at IS NOT NULL AND s.updated_at <= q.fetched_updated_at)"

/*
 * The sweep's queue changes.  Summaries come as arrays (one statement per
 * page).  A run waiting to retry a failed fetch keeps its backoff unless the
 * summary is newer than at that fetch.  A row another daemon is fetching is not made due (its lease
 * would end early): the next sweep re-reads it within discover.overlap
 * and decides then.  Rows are locked in run_id order, so sweeps of
 * overlapping sources cannot deadlock.  A malformed summary's status or
 * updatedAt may be NULL: it enqueues a new run (its fetch tells the truth),
 * and a part it lacks neither makes a queued run due nor replaces what an
 * earlier summary listed (a run always listed without a time would
 * otherwise be fetched again at every sweep).
 */
#define SQL_APPLY(lock) \
	"WITH s AS (SELECT DISTINCT ON (run_id) run_id, status, updated_at, workflow_id " \
	"  FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[]) AS u(run_id, status, updated_at, " \
	"    workflow_id) ORDER BY run_id, updated_at DESC NULLS LAST, status IS NULL), " \
	"ins AS (INSERT INTO sync_queue (run_id, listed_status, listed_updated_at, workflow_id) " \
	"  SELECT run_id, status, updated_at, workflow_id FROM s ORDER BY run_id " \
	"  ON CONFLICT (run_id) DO NOTHING RETURNING run_id), " \
	"k AS (SELECT s.run_id, s.status, s.updated_at, s.workflow_id, " \
	"    (q.lease_owner IS NOT NULL AND q.lease_expires_at > now()) AS leased, " \
	"    coalesce(CASE WHEN $5::bool THEN NOT " DONE_UNCHANGED " " \
	"      WHEN q.lease_owner IS NOT NULL AND q.lease_expires_at > now() THEN false " \
	"      WHEN q.state = 'failed' THEN s.updated_at > coalesce(q.fetched_updated_at, q.listed_updated_at, " \
	"        '-infinity') " \
	"      WHEN q.last_status IS NULL THEN false " \
	"      WHEN q.state = 'pending' AND q.attempts > 0 THEN s.updated_at > q.fetched_updated_at " \
	"      ELSE (s.status IS NOT NULL AND s.status IS DISTINCT FROM q.last_status) " \
	"        OR (s.updated_at IS NOT NULL AND (q.fetched_updated_at IS NULL " \
	"          OR s.updated_at > q.fetched_updated_at)) END, false) AS changed " \
	"  FROM s JOIN sync_queue q ON q.run_id = s.run_id ORDER BY s.run_id FOR UPDATE OF q " lock "), " \
	"upd AS (UPDATE sync_queue q SET listed_status = coalesce(k.status, q.listed_status), " \
	"    listed_updated_at = coalesce(k.updated_at, q.listed_updated_at), " \
	"    workflow_id = coalesce(k.workflow_id, q.workflow_id), " \
	"    listed_rechecks = CASE WHEN q.listed_status IS DISTINCT FROM coalesce(k.status, q.listed_status) " \
	"      OR q.listed_updated_at IS DISTINCT FROM coalesce(k.updated_at, q.listed_updated_at) THEN 0 " \
	"      ELSE q.listed_rechecks END, " \
	"    state = CASE WHEN k.changed THEN 'pending' ELSE q.state END, " \
	"    next_attempt_at = CASE WHEN NOT k.changed OR k.leased THEN q.next_attempt_at " \
	"      WHEN q.state = 'pending' THEN least(q.next_attempt_at, now()) ELSE now() END, " \
	"    finished_at = CASE WHEN k.changed THEN NULL ELSE q.finished_at END, " \
	"    attempts = CASE WHEN k.changed AND (q.state = 'failed' OR $5::bool) THEN 0 ELSE q.attempts END, " \
	"    priority = CASE WHEN k.changed THEN 0 ELSE q.priority END, " \
	"    polls = CASE WHEN $5::bool THEN 0 ELSE q.polls END, " \
	"    enqueued_at = CASE WHEN $5::bool THEN now() ELSE q.enqueued_at END, " \
	"    enqueue_gen = CASE WHEN $5::bool THEN q.enqueue_gen + 1 ELSE q.enqueue_gen END " \
	"  FROM k WHERE q.run_id = k.run_id AND (k.changed " \
	"    OR q.listed_status IS DISTINCT FROM coalesce(k.status, q.listed_status) " \
	"    OR q.listed_updated_at IS DISTINCT FROM coalesce(k.updated_at, q.listed_updated_at) " \
	"    OR q.workflow_id IS DISTINCT FROM coalesce(k.workflow_id, q.workflow_id)) " \
	"  RETURNING k.changed), " \
	"d AS (SELECT run_id, updated_at FROM s WHERE NOT EXISTS (SELECT FROM ins WHERE ins.run_id = s.run_id) " \
	"  AND NOT EXISTS (SELECT FROM k WHERE k.run_id = s.run_id)) " \
	"SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM upd WHERE changed), (SELECT count(*) FROM s), " \
	"  (SELECT count(*) FROM d), (SELECT min(run_id) FROM d), (SELECT bool_or(updated_at IS NULL) FROM d), " \
	"  (SELECT to_char(min(updated_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM d)"

/*
 * A sweep skips the rows another session holds (a sweep never waits on a
 * lock: it would stall discovery, then fail and start again from page 1):
 * they come back as deferred, and the sweep keeps its mark at or below
 * them so that the next one reads them again.  --enqueue-workflow and
 * --enqueue-batch (force) keep no mark: they wait, as enqueue() does.
 */
static const char sql_apply[] = SQL_APPLY("SKIP LOCKED");
static const char sql_apply_wait[] = SQL_APPLY("");


/* Malformed summaries a page read: counted (and the last one named) whether or not the sweep ends with it. */
static const char sql_malformed[] =
	"UPDATE discovery_state SET malformed_summaries = malformed_summaries + $3::bigint, "
	"  last_malformed = $4, last_malformed_at = now() "
	"WHERE source = $1 AND sweep_owner = $2";

static const char sql_renew[] =
	"UPDATE discovery_state SET sweep_lease_expires_at = now() + make_interval(secs => $3::float8) "
	"WHERE source = $1 AND sweep_owner = $2";

static const char sql_finish[] =
	"UPDATE discovery_state SET high_water = greatest(high_water, $3::timestamptz), last_sweep_at = now(), "
	"  last_error = NULL, runs_listed = $4::bigint, failures = 0, last_sweep_malformed = $6::bigint, "
	"  next_sweep_at = now() + make_interval(secs => $5::float8), "
	"  sweep_owner = NULL, sweep_lease_expires_at = NULL "
	"WHERE source = $1 AND sweep_owner = $2";

static const char sql_acquire[] =
	"INSERT INTO discovery_state AS d (source, sweep_owner, sweep_lease_expires_at) "
	"VALUES ($1, $2, now() + make_interval(secs => $3::float8)) "
	"ON CONFLICT (source) DO UPDATE SET sweep_owner = $2, "
	"  sweep_lease_expires_at = now() + make_interval(secs => $3::float8) "
	"WHERE (d.sweep_owner IS NULL OR d.sweep_lease_expires_at <= now() OR d.sweep_owner = $2) "
	"  AND ($4::bool OR d.next_sweep_at <= now()) "
	"RETURNING to_char(d.high_water AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), d.failures";

/* Not ours now: when it is worth asking again (the other's lease ends, or the next sweep is due). */
static const char sql_wait[] =
	"SELECT greatest(0, extract(epoch FROM greatest(next_sweep_at, CASE WHEN sweep_owner IS NOT NULL "
	"  AND sweep_lease_expires_at > now() THEN sweep_lease_expires_at END) - now()))::float8 "
	"FROM discovery_state WHERE source = $1";

static const char sql_fail[] =
	"UPDATE discovery_state SET last_error = $3, failures = failures + 1, "
	"  next_sweep_at = now() + make_interval(secs => $4::float8), "
	"  sweep_owner = NULL, sweep_lease_expires_at = NULL "
	"WHERE source = $1 AND sweep_owner = $2";

/*
 * A pending run a sweep listed (of workflow $1; NULL: any) that is in
 * motion by its listing and by its last fetch, if any: one that keeps a
 * --drain sweeping again.  Such a run also keeps the drain itself running
 * (queue.c's BUSY), so the sweeps never outlast what the queue waits for.
 * The pending rows only, read through the partial index sync_queue_due.
 */
static const char sql_in_motion[] =
	"SELECT EXISTS (SELECT 1 FROM sync_queue WHERE state = 'pending' "
	"  AND listed_status IN ('PENDING', 'PROCESSING', 'CANCELLING') "
	"  AND (last_status IS NULL OR last_status IN ('PENDING', 'PROCESSING', 'CANCELLING')) "
	"  AND ($1::text IS NULL OR workflow_id = $1::text))";

static const char sql_release[] =
	"UPDATE discovery_state SET sweep_owner = NULL, sweep_lease_expires_at = NULL "
	"WHERE source = $1 AND sweep_owner = $2";

static const struct db_statement statements[] = {
	{ "discover_apply", sql_apply },
	{ "discover_apply_wait", sql_apply_wait },
	{ "discover_renew", sql_renew },
	{ "discover_malformed", sql_malformed },
	{ "discover_finish", sql_finish },
	{ "discover_acquire", sql_acquire },
	{ "discover_wait", sql_wait },
	{ "discover_fail", sql_fail },
	{ "discover_release", sql_release },
	{ "discover_in_motion", sql_in_motion },
};

int
discover_prepare(PGconn *conn, char *err, size_t errlen)
{
	return db_prepare(conn, statements, sizeof(statements) / sizeof(statements[0]), err, errlen);
}

/* Run a prepared statement; returns the rows changed (or returned), or -1 with err set. res kept when wanted. */
static int
exec(PGconn *conn, const char *name, int nparams, const char *const *params, PGresult **keep, char *err,
     size_t errlen)
{
	PGresult *res = db_exec_prepared(conn, name, nparams, params, NULL, NULL, 0);
	int n = -1;

	if (PQresultStatus(res) == PGRES_COMMAND_OK)
		n = atoi(PQcmdTuples(res));
	else if (PQresultStatus(res) == PGRES_TUPLES_OK)
		n = PQntuples(res);
	else
		db_error(conn, res, err, errlen);
	if (keep != NULL && n >= 0) {
		*keep = res;
		return n;
	}
	PQclear(res);
	return n;
}

/* Take the lease of a source; see discover.h. */
int
discover_acquire(PGconn *conn, const char *source, const char *owner, double lease, bool force,
		 struct source_state *st, double *wait, char *err, size_t errlen)
{
	char lease_s[32];
	const char *params[4] = { source, owner, lease_s, force ? "true" : "false" };
	PGresult *res = NULL;
	int n;

	snprintf(lease_s, sizeof(lease_s), "%.3f", lease);
	memset(st, 0, sizeof(*st));
	*wait = 0;
	n = exec(conn, "discover_acquire", 4, params, &res, err, errlen);
	if (n < 0)
		return -1;
	if (n == 1) {
		st->has_high_water = !PQgetisnull(res, 0, 0) &&
			discover_parse_time(PQgetvalue(res, 0, 0), &st->high_water_us) == 0;
		st->failures = atoi(PQgetvalue(res, 0, 1));
		PQclear(res);
		return 1;
	}
	PQclear(res);
	n = exec(conn, "discover_wait", 1, params, &res, err, errlen);
	if (n < 0)
		return -1;
	if (n == 1 && !PQgetisnull(res, 0, 0))
		*wait = atof(PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

/* Append s to b as an element of a PostgreSQL array literal: quoted, or NULL. */
static int
array_add(struct buf *b, const char *s)
{
	if (b->len > 1 && buf_append_str(b, ","))
		return -1;
	if (s == NULL)
		return buf_append_str(b, "NULL");
	if (buf_append_str(b, "\""))
		return -1;
	for (; *s != '\0'; s++) {
		if ((*s == '"' || *s == '\\') && buf_append(b, "\\", 1))
			return -1;
		if (buf_append(b, s, 1))
			return -1;
	}
	return buf_append_str(b, "\"");
}

/* Apply a page (and end a sweep); see discover.h. */
int
discover_apply(PGconn *conn, const char *source, const char *owner, double lease, const struct list_page *p,
	       size_t n, bool force, const struct malformed_note *bad, const struct sweep_end *end,
	       struct apply_counts *counts, char *err, size_t errlen)
{
	struct buf a[4];
	char lease_s[32], high_s[40], listed_s[24], interval_s[32], bad_s[24], note[512], why[DB_ERR_SIZE];
	PGresult *res = NULL;
	int rc = -1;

	memset(counts, 0, sizeof(*counts));
	for (int i = 0; i < 4; i++) {
		buf_init(&a[i], (size_t)1 << 30);
		if (buf_append_str(&a[i], "{"))
			goto oom;
	}
	for (size_t i = 0; i < n; i++) {
		const struct run_summary *s = &p->runs[i];

		if (array_add(&a[0], s->id) || array_add(&a[1], s->status) || array_add(&a[2], s->updated_at) ||
		    array_add(&a[3], s->workflow_id))
			goto oom;
	}
	for (int i = 0; i < 4; i++) {
		if (buf_append_str(&a[i], "}"))
			goto oom;
	}
	snprintf(lease_s, sizeof(lease_s), "%.3f", lease);
	if (db_exec(conn, "BEGIN", err, errlen) < 0)
		goto out;
	if (source != NULL) {
		const char *params[3] = { source, owner, lease_s };

		rc = exec(conn, "discover_renew", 3, params, NULL, err, errlen);
		if (rc <= 0)
			goto rollback;
	}
	if (source != NULL && bad != NULL && bad->count > 0) {
		const char *params[4] = { source, owner, bad_s, note };

		snprintf(bad_s, sizeof(bad_s), "%lld", bad->count);
		text_clean(note, sizeof(note), bad->last);
		rc = exec(conn, "discover_malformed", 4, params, NULL, err, errlen);
		if (rc <= 0)
			goto rollback;
	}
	if (n > 0) {
		const char *params[5] = { a[0].data, a[1].data, a[2].data, a[3].data, force ? "true" : "false" };

		rc = exec(conn, force ? "discover_apply_wait" : "discover_apply", 5, params, &res, err, errlen);
		if (rc < 0)
			goto rollback;
		counts->enqueued = atoll(PQgetvalue(res, 0, 0));
		counts->made_due = atoll(PQgetvalue(res, 0, 1));
		counts->total = atoll(PQgetvalue(res, 0, 2));
		counts->deferred = atoll(PQgetvalue(res, 0, 3));
		if (counts->deferred > 0) {
			snprintf(counts->first_deferred, sizeof(counts->first_deferred), "%s", PQgetvalue(res, 0, 4));
			counts->deferred_untimed = strcmp(PQgetvalue(res, 0, 5), "t") == 0;
			if (PQgetisnull(res, 0, 6) ||
			    discover_parse_time(PQgetvalue(res, 0, 6), &counts->deferred_min_us) < 0)
				counts->deferred_untimed = true;
		}
		PQclear(res);
		res = NULL;
	}
	if (end != NULL && source != NULL) {
		const char *params[6] = { source, owner, end->has_new_high ? high_s : NULL, listed_s, interval_s,
					  bad_s };

		int64_t high = end->new_high_us;

		/* a run deferred by this page: the next sweep must read it again */
		if (counts->deferred > 0 && counts->deferred_untimed)
			params[2] = NULL;
		else if (counts->deferred > 0 && counts->deferred_min_us < high)
			high = counts->deferred_min_us;
		discover_format_time(high, high_s, sizeof(high_s));
		snprintf(listed_s, sizeof(listed_s), "%lld", end->runs_listed);
		snprintf(interval_s, sizeof(interval_s), "%.3f",
			 counts->deferred > 0 ? end->deferred_interval : end->interval);
		snprintf(bad_s, sizeof(bad_s), "%lld", end->malformed);
		rc = exec(conn, "discover_finish", 6, params, NULL, err, errlen);
		if (rc <= 0)
			goto rollback;
	}
	if (db_exec(conn, "COMMIT", err, errlen) < 0) {
		rc = -1;
		goto out;
	}
	rc = 1;
	goto out;
rollback:
	(void)db_exec(conn, "ROLLBACK", why, sizeof(why));
	if (rc == 0)
		memset(counts, 0, sizeof(*counts));
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
out:
	PQclear(res);
	for (int i = 0; i < 4; i++)
		buf_free(&a[i]);
	return rc;
}

/* A failed sweep; see discover.h. */
int
discover_fail(PGconn *conn, const char *source, const char *owner, const char *error, double delay,
	      char *err, size_t errlen)
{
	char delay_s[32], text[1024];
	const char *params[4] = { source, owner, text, delay_s };

	/* PostgreSQL refuses ill-formed UTF-8: an error quoting the API must still be recorded */
	text_clean(text, sizeof(text), error);
	snprintf(delay_s, sizeof(delay_s), "%.3f", delay);
	return exec(conn, "discover_fail", 4, params, NULL, err, errlen) < 0 ? -1 : 0;
}

int
discover_release(PGconn *conn, const char *source, const char *owner, char *err, size_t errlen)
{
	const char *params[2] = { source, owner };

	return exec(conn, "discover_release", 2, params, NULL, err, errlen) < 0 ? -1 : 0;
}

/* Whether runs a source listed are still in motion; see discover.h. */
int
discover_in_motion(PGconn *conn, const char *workflow_id, bool *moving, char *err, size_t errlen)
{
	const char *params[1] = { workflow_id };
	PGresult *res = NULL;

	*moving = false;
	if (exec(conn, "discover_in_motion", 1, params, &res, err, errlen) != 1) {
		if (res != NULL)
			snprintf(err, errlen, "unexpected result of the in-motion check");
		PQclear(res);
		return -1;
	}
	*moving = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return 0;
}
