/* PostgreSQL array literals of text values, for sending many rows as one parameter per column. */
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

#endif
