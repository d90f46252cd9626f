/* A JSON document as one array of nodes: a strict, allocation-light parser, and json-c's trees in the same form. */
#ifndef EXTEND_SYNCD_JTREE_H
#define EXTEND_SYNCD_JTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

enum jtype { JT_NULL, JT_BOOL, JT_INT, JT_DOUBLE, JT_STRING, JT_ARRAY, JT_OBJECT };

/*
 * One value.  Nodes are in document order: the members or elements of a
 * container follow it, and the node after the last one below a value is
 * the value's next sibling (node + node->size).
 */
struct jnode {
	const char *key;	/* its name when the parent is an object (klen bytes, not NUL-terminated) */
	const char *s;		/* a string's bytes, a double's text (len bytes, not NUL-terminated) */
	union {
		int64_t i;	/* JT_INT */
		double d;	/* JT_DOUBLE */
		bool b;		/* JT_BOOL */
	} v;
	const uint32_t *slots;	/* an object of many members: their names hashed, as offsets from it; else NULL */
	uint32_t klen;
	uint32_t len;		/* bytes of s (0 for other scalars); members or elements of a container */
	uint32_t size;		/* nodes of the value: itself and everything below it */
	uint32_t mask;		/* slots has mask + 1 entries */
	uint8_t type;		/* enum jtype */
	uint8_t plain;		/* JPLAIN_*: what JSON writes as it is, with quotes around it */
};

#define JPLAIN_S 1		/* s has no quote, backslash, control character (nor NUL) */
#define JPLAIN_KEY 2		/* likewise key */

/* A document; all of it is freed by jtree_free().  It may point into the text it was parsed from. */
struct jtree {
	struct jnode *nodes;
	size_t n, cap;
	char *text;		/* the strings that had escapes, decoded */
	size_t text_len, text_cap;
	uint32_t **tables;	/* the slots of the objects that have them */
	size_t ntables, tables_cap;
};

#define JTREE_INIT { NULL, 0, 0, NULL, 0, 0, NULL, 0, 0 }

/*
 * Parse len bytes of s, which must stay as they are while the tree is used.
 * Returns 0; -EINVAL for anything this parser leaves to json-c: invalid
 * JSON, but also what is valid yet unusual (duplicate names, lone
 * surrogates, integers of 19 digits or more, nesting deeper than 101, a
 * document that is no object or array) or what json-c reads its own way;
 * or -ENOMEM.  A \u0000 escape is left out
 * of its string: PostgreSQL cannot hold U+0000.  Every string is valid UTF-8.
 */
int jtree_parse(struct jtree *t, const char *s, size_t len) __attribute__((warn_unused_result));

/* json-c's tree o as nodes (which point into o: it must outlive them); 0 or -ENOMEM. */
int jtree_from_json_c(struct jtree *t, json_object *o) __attribute__((warn_unused_result));

/* Forget the document but keep the memory, for the next one. */
void jtree_reset(struct jtree *t);

void jtree_free(struct jtree *t);

/* The whole document (NULL when there is none). */
static inline const struct jnode *
jtree_root(const struct jtree *t)
{
	return t->n > 0 ? t->nodes : NULL;
}

/* The member of object o named key (klen bytes), JSON null included, or NULL (also when o is no object). */
const struct jnode *jtree_member(const struct jnode *o, const char *key, size_t klen);

/* Whether a and b hold the same value, as json_object_equal() says; NULL is JSON null. */
bool jtree_equal(const struct jnode *a, const struct jnode *b);

/* A value as json_object_get_boolean() reads it. */
bool jtree_truthy(const struct jnode *v);

/*
 * Whether two documents are the same, node for node: names, types, texts
 * and values, and what a says is plain is (for tests).
 */
bool jtree_same(const struct jtree *a, const struct jtree *b);

#endif
