/* libFuzzer target: normalize_body and normalize_error_message on arbitrary bytes, checking what they promise. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "jtree.h"
#include "normalize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether s is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF). */
static bool
utf8_valid(const unsigned char *s)
{
	while (*s != '\0') {
		unsigned char c = *s;
		size_t n;
		unsigned long cp;

		if (c < 0x80) {
			s++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		for (size_t i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		s += n + 1;
	}
	return true;
}

/* A message for a person: one line of valid UTF-8 that fits its buffer. */
static void
check_message(const char *what, const char *msg, size_t size)
{
	size_t n = strnlen(msg, size);

	if (n == size || strchr(msg, '\n') != NULL || strchr(msg, '\r') != NULL ||
	    !utf8_valid((const unsigned char *)msg)) {
		fprintf(stderr, "%s is not one line of valid UTF-8 within its buffer\n", what);
		abort();
	}
}

/*
 * The run ID the body claims, so that the fuzzer gets past the ID check:
 * normalize_body is told to expect exactly it (or a fixed one when there is none).
 */
static char *
claimed_id(const uint8_t *data, size_t size)
{
	json_tokener *tok = json_tokener_new();
	json_object *root, *run, *id;
	char *out = NULL;

	if (tok == NULL)
		return NULL;
	root = json_tokener_parse_ex(tok, (const char *)data, (int)size);
	if (json_object_object_get_ex(root, "workflowRun", &run) && json_object_object_get_ex(run, "id", &id) &&
	    json_object_is_type(id, json_type_string))
		out = strndup(json_object_get_string(id), (size_t)json_object_get_string_len(id));
	json_object_put(root);
	json_tokener_free(tok);
	return out;
}

/* What the fast parser takes, it reads as json-c reads it (after normalize.c's preparation): node for node. */
static void
check_fast_parse(const uint8_t *data, size_t size)
{
	struct jtree fast = JTREE_INIT, slow = JTREE_INIT;
	json_object *fast_root = NULL, *slow_root = NULL;
	char err[NORMALIZE_ERR_SIZE];
	int a = normalize_parse((const char *)data, size, true, &fast, &fast_root, err, sizeof(err));
	int b = normalize_parse((const char *)data, size, false, &slow, &slow_root, err, sizeof(err));

	if (a != -ENOMEM && b != -ENOMEM && (a != b || (a == 0 && !jtree_same(&fast, &slow)))) {
		fprintf(stderr, "the fast parser (%s: %d) and json-c (%d) disagree\n",
			fast_root == NULL ? "taken" : "left to json-c", a, b);
		abort();
	}
	jtree_free(&fast);
	jtree_free(&slow);
	json_object_put(fast_root);
	json_object_put(slow_root);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[NORMALIZE_ERR_SIZE], msg[200];
	struct run_rows *rr = NULL;
	char *id;
	int rc;

	if (size > 4 * 1024 * 1024)
		return 0;
	memset(msg, 'x', sizeof(msg));
	if (normalize_error_message((const char *)data, size, msg, sizeof(msg)) == 0)
		check_message("normalize_error_message", msg, sizeof(msg));

	check_fast_parse(data, size);
	id = claimed_id(data, size);
	for (int contents = 0; contents < 2; contents++) {
		memset(err, 'x', sizeof(err));
		rc = normalize_body((const char *)data, size, id != NULL ? id : "workflow_run_fuzz", contents,
				    &rr, err, sizeof(err));
		if (rc == 0) {
			if (rr == NULL || rr->id == NULL || rr->status == NULL)
				abort();
			/* every cell PostgreSQL is given must be valid UTF-8 (NUL-free by being a C string) */
			for (int t = 0; t < T_COUNT; t++) {
				for (size_t r = 0; r < rr->t[t].nrows; r++) {
					for (int c = 0; c < normalize_tables[t].ncols; c++) {
						const char *cell = normalize_cell(rr, (enum table_id)t, r, c);

						if (cell != NULL && !utf8_valid((const unsigned char *)cell)) {
							fprintf(stderr, "%s row %zu column %s is not valid UTF-8\n",
								normalize_tables[t].name, r, normalize_tables[t].cols[c]);
							abort();
						}
					}
				}
			}
		} else if (rc == -EINVAL) {
			if (rr != NULL)
				abort();
			check_message("normalize_body's error", err, sizeof(err));
		} else if (rc != -ENOMEM) {
			abort();
		}
		normalize_free(rr);
		rr = NULL;
	}
	free(id);
	return 0;
}
