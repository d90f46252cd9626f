/* Turns one API response body into the rows of every table: pure, no I/O, no logging, no globals. */
#ifndef EXTEND_SYNCD_NORMALIZE_H
#define EXTEND_SYNCD_NORMALIZE_H

#include <stdbool.h>
#include <stddef.h>

enum table_id {
	T_RUNS,			/* workflow_runs */
	T_FILES,		/* workflow_run_files */
	T_FILE_PAGES,		/* workflow_run_file_pages */
	T_FILE_SHEETS,		/* workflow_run_file_sheets */
	T_PROCESSOR_RUNS,	/* processor_runs */
	T_PROCESSOR_FILES,	/* processor_run_files */
	T_MERGED,		/* processor_run_merged_processors */
	T_STEP_RUNS,		/* step_runs */
	T_STEP_RULES,		/* step_run_rules */
	T_FIELDS,		/* extracted_fields: leaves of EXTRACT outputs */
	T_CLASSIFICATIONS,	/* classifications: CLASSIFY outputs */
	T_SPLITS,		/* splits: SPLITTER outputs */
	T_COUNT
};

struct table_def {
	const char *name;
	int ncols;
	const char *const *cols;
};

/* Names and columns of the tables, in the order rows must be inserted (parents first). */
extern const struct table_def normalize_tables[T_COUNT];

/* The rows of one table: nrows * ncols cells, each a NUL-free UTF-8 string or NULL for SQL NULL. */
struct table_rows {
	size_t nrows;
	size_t cap;
	char **cells;
};

struct cell_block;

/* Everything one run becomes; owned by whoever called normalize_body(). */
struct run_rows {
	const char *id;		/* points into the T_RUNS row */
	const char *status;	/* likewise; never NULL */
	struct table_rows t[T_COUNT];
	struct cell_block *mem;	/* where the cells are */
};

#define NORMALIZE_ERR_SIZE 256

/*
 * Parse body (len bytes, need not be NUL-terminated) as the answer to
 * GET /workflow_runs/{expected_id} and build the rows.  Returns 0 and a
 * new struct run_rows in *out, -EINVAL with a readable reason in err when
 * the body is not that run, or -ENOMEM.  The reason quotes no more of the
 * body than an error message the API itself gave.
 */
int normalize_body(const char *body, size_t len, const char *expected_id, bool file_contents,
		   struct run_rows **out, char *err, size_t errlen) __attribute__((warn_unused_result));

struct jtree;
struct json_object;

/*
 * The JSON parse of normalize_body() alone, for tests: the body into t, by
 * the fast parser (fast) when it takes it, else by json-c, whose tree is
 * then in *root (json_object_put() it after t).  0, or -EINVAL with the
 * reason in err, or -ENOMEM.
 */
int normalize_parse(const char *body, size_t len, bool fast, struct jtree *t, struct json_object **root, char *err,
		    size_t errlen) __attribute__((warn_unused_result));

/*
 * The message of an API error body in either shape ({"success": false,
 * "error": "..."} or {"code": "...", "message": "..."}), with the code when
 * there is one, cut to fit out.  Returns 0, or -1 when body is not such JSON.
 */
int normalize_error_message(const char *body, size_t len, char *out, size_t outlen);

/* A non-200 answer for a person: "HTTP <status>: <the API's message>", or "HTTP <status>" without one. */
void normalize_http_error(long status, const char *body, size_t len, char *out, size_t outlen);

/* The cell at row, column of table t. */
const char *normalize_cell(const struct run_rows *rr, enum table_id t, size_t row, int col);

/* Column index of name in table t, or -1. */
int normalize_col(enum table_id t, const char *name);

/* The bytes rr holds in memory (its cells and their tables). */
size_t normalize_size(const struct run_rows *rr);

void normalize_free(struct run_rows *rr);

#endif
