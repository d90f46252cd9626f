/*
 * Check suite for db_unreachable(): which of libpq's and the server's
 * reasons for a failed connection a daemon starting (or reconnecting)
 * waits out, and which it reports and exits on.  The messages are those
 * libpq 15 and PostgreSQL 15 give, as db_connect() returns them.  And
 * what the daemon tells a person whose connection peer authentication
 * refused (preflight_auth_hint()).
 */
#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "preflight.h"

static const struct {
	const char *err;
	bool unreachable;
} cases[] = {
	/* the server is down, or not there yet */
	{ "connection to server on socket \"/run/postgresql/.s.PGSQL.5432\" failed: No such file or directory\n"
	  "\tIs the server running locally and accepting connections on that socket?", true },
	{ "connection to server at \"127.0.0.1\", port 5432 failed: Connection refused\n"
	  "\tIs the server running on that host and accepting TCP/IP connections?", true },
	{ "connection to server at \"10.0.0.9\", port 5432 failed: timeout expired", true },
	{ "connection to server at \"10.0.0.9\", port 5432 failed: No route to host", true },
	{ "connection to server at \"10.0.0.9\", port 5432 failed: Network is unreachable", true },
	{ "could not translate host name \"db.internal\" to address: Temporary failure in name resolution", true },
	/* the server is there and says not now */
	{ "connection to server on socket \"/tmp/.s.PGSQL.5432\" failed: FATAL:  the database system is starting up",
	  true },
	{ "connection to server on socket \"/tmp/.s.PGSQL.5432\" failed: FATAL:  the database system is shutting "
	  "down", true },
	{ "connection to server at \"db\" (10.0.0.9), port 5432 failed: FATAL:  the database system is in recovery "
	  "mode", true },
	{ "FATAL:  the database system is not yet accepting connections\nDETAIL:  Consistent recovery state has not "
	  "been yet reached.", true },
	{ "connection to server on socket \"/tmp/.s.PGSQL.5432\" failed: FATAL:  sorry, too many clients already",
	  true },
	{ "FATAL:  remaining connection slots are reserved for non-replication superuser connections", true },
	/* the connection went while it was being set up */
	{ "server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally\n"
	  "\tbefore or while processing the request.", true },
	{ "FATAL:  terminating connection due to administrator command", true },
	{ "SSL SYSCALL error: EOF detected", true },
	{ "SSL error: unexpected eof while reading", true },
	{ "could not receive data from server: Connection reset by peer", true },
	/* a setting or a grant is wrong: waiting would not mend it */
	{ "connection to server on socket \"/tmp/.s.PGSQL.5432\" failed: FATAL:  password authentication failed "
	  "for user \"extend_syncd\"", false },
	{ "connection to server on socket \"/run/postgresql/.s.PGSQL.5432\" failed: FATAL:  Peer authentication "
	  "failed for user \"extend_syncd\"", false },
	{ "connection to server on socket \"/tmp/.s.PGSQL.5432\" failed: FATAL:  database \"extend\" does not exist",
	  false },
	{ "connection to server on socket \"/tmp/.s.PGSQL.5432\" failed: FATAL:  role \"extend_syncd\" does not "
	  "exist", false },
	{ "could not translate host name \"db.exmaple.com\" to address: Name or service not known", false },
	{ "invalid connection option \"hostadr\"", false },
	{ "could not open certificate file \"/etc/extend-syncd/client.crt\": No such file or directory", false },
	{ "connection to server at \"db\" (10.0.0.9), port 5432 failed: FATAL:  no pg_hba.conf entry for host "
	  "\"10.0.0.2\", user \"extend_syncd\", database \"extend\", SSL encryption", false },
	/* a server in another language: not known, so not waited for */
	{ "FATAL:  das Datenbanksystem startet", false },
	{ "", false },
};

START_TEST(test_reasons)
{
	ck_assert_msg(db_unreachable(cases[_i].err) == cases[_i].unreachable, "db_unreachable(\"%s\") is not %s",
		      cases[_i].err, cases[_i].unreachable ? "true" : "false");
}
END_TEST

/* Case does not matter; a reason longer than the buffer is read as far as it goes, never past it. */
START_TEST(test_case_and_length)
{
	size_t n = 4 * DB_ERR_SIZE;
	char *tail = malloc(n + 64), *head = malloc(n + 64);

	ck_assert_ptr_nonnull(tail);
	ck_assert_ptr_nonnull(head);
	ck_assert(db_unreachable("CONNECTION REFUSED"));
	ck_assert(db_unreachable("Could Not Connect To Server"));
	/* the known words beyond what is read: not known */
	memset(tail, 'x', n);
	strcpy(tail + n, " connection refused");
	ck_assert(!db_unreachable(tail));
	/* the known words first, then a long tail */
	strcpy(head, "connection refused ");
	memset(head + strlen(head), 'x', n);
	head[n] = '\0';
	ck_assert(db_unreachable(head));
	free(tail);
	free(head);
}
END_TEST

#define PEER "connection to server on socket \"/run/postgresql/.s.PGSQL.5432\" failed: FATAL:  Peer authentication " \
	"failed for user \"extend_syncd_nobody\""

/* The hint's systemd-run line for config (a path that does not exist, so taken as it is). */
static void
expect_hint(const char *config, const char *want)
{
	char hint[1024];

	ck_assert(preflight_auth_hint(PEER, config, "--check-connection", hint, sizeof(hint)));
	ck_assert_msg(strstr(hint, want) != NULL, "the hint for %s: %s\nlacks: %s", config, hint, want);
}

/* The service's configuration and key, or a template instance's (systemd/extend-syncd.service.in). */
START_TEST(test_hint_key_file)
{
	char hint[1024] = "x";

	expect_hint(SYSCONFDIR "/extend-syncd.conf", "-p LoadCredential=extend-api-key:" SYSCONFDIR
		    "/extend-syncd/api-key extend-syncd -c " SYSCONFDIR "/extend-syncd.conf --check-connection");
	expect_hint(SYSCONFDIR "/extend-syncd/books.conf", "-p LoadCredential=extend-api-key:" SYSCONFDIR
		    "/extend-syncd/books.api-key extend-syncd -c " SYSCONFDIR "/extend-syncd/books.conf --check-connection");
	/* quoted for the shell as one word */
	expect_hint(SYSCONFDIR "/extend-syncd/my books.conf", "-p LoadCredential=extend-api-key:'" SYSCONFDIR
		    "/extend-syncd/my books.api-key' extend-syncd -c '" SYSCONFDIR "/extend-syncd/my books.conf'");
	/* not an instance's: the service's key */
	expect_hint(SYSCONFDIR "/extend-syncd/sub/books.conf", "extend-api-key:" SYSCONFDIR "/extend-syncd/api-key ");
	expect_hint(SYSCONFDIR "/extend-syncd/books.cfg", "extend-api-key:" SYSCONFDIR "/extend-syncd/api-key ");
	expect_hint(SYSCONFDIR "/extend-syncd/.conf", "extend-api-key:" SYSCONFDIR "/extend-syncd/api-key ");
	expect_hint("/srv/extend/books.conf", "extend-api-key:" SYSCONFDIR "/extend-syncd/api-key ");
	/* another refusal: no hint */
	ck_assert(!preflight_auth_hint("FATAL:  password authentication failed for user \"extend_syncd\"",
				       SYSCONFDIR "/extend-syncd.conf", "--check-connection", hint, sizeof(hint)));
	ck_assert_str_eq(hint, "");
}
END_TEST

static Suite *
db_suite(void)
{
	Suite *s = suite_create("db");
	TCase *tc = tcase_create("unreachable"), *th = tcase_create("auth hint");

	tcase_add_loop_test(tc, test_reasons, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, test_case_and_length);
	suite_add_tcase(s, tc);
	tcase_add_test(th, test_hint_key_file);
	suite_add_tcase(s, th);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(db_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
