/* PostgreSQL array literals of text values and COPY text rows, for sending many rows at once. */
#ifndef EXTEND_SYNCD_PGARRAY_H
#define EXTEND_SYNCD_PGARRAY_H

#include <stddef.h>

#include "buf.h"

/*
 * Append to b the text[] literal of n values: values[0], values[stride],
 * values[2 * stride], ... (NULL for SQL NULL).  Every value is quoted, so
 * the empty string, "NULL", braces, commas and spaces stay themselves;
 * quotes and backslashes are escaped.  Values must be NUL-free.  Returns 0,
 * -ENOMEM, or -EFBIG when b's cap would be passed.
 */
int pgarray_append(struct buf *b, const char *const *values, size_t n, size_t stride)
	__attribute__((warn_unused_result));

/*
 * The same for a literal built in pieces, the rows of several runs in one
 * array: append "{", then pgarray_add() any number of times, then "}".
 * Each call appends n elements, after a comma unless b ends in "{".
 */
int pgarray_add(struct buf *b, const char *const *values, size_t n, size_t stride)
	__attribute__((warn_unused_result));

/*
 * Append n rows of ncols cells each (row after row; NULL for SQL NULL) in
 * COPY's text format: cells separated by tabs, rows ended by newlines,
 * NULL as \N, backslash, newline, carriage return and tab escaped with a
 * backslash.  Cells must be NUL-free.  Returns 0, -ENOMEM, or -EFBIG.
 */
int pgcopy_append_rows(struct buf *b, const char *const *cells, size_t n, size_t ncols)
	__attribute__((warn_unused_result));

#endif
