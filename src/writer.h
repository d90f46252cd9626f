/*
 * The store's writer: a thread that writes one batch of runs at a time
 * (store_write_batch()) on a connection of its own, so that the loop goes
 * on fetching and parsing the next runs meanwhile.  It does nothing else:
 * no logging, no metrics, no decisions; the loop hands it a batch and takes
 * the outcome back, item by item, when writer_fd() is readable.
 */
#ifndef EXTEND_SYNCD_WRITER_H
#define EXTEND_SYNCD_WRITER_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "store.h"

struct writer;

/* Start the thread; NULL with err set when it cannot be. */
struct writer *writer_start(char *err, size_t errlen);

/* Readable once the batch handed over is written (or failed): then call writer_collect(). */
int writer_fd(const struct writer *w);

/* Whether a batch is handed over and not collected yet. */
bool writer_busy(const struct writer *w);

/*
 * Hand over n items to write on conn as owner.  Until writer_collect()
 * says done, the thread owns conn and the items (and what they point to):
 * the caller touches none of them.
 */
void writer_submit(struct writer *w, PGconn *conn, struct store_item *items, size_t n, const char *owner);

/*
 * Whether the batch is done: then every item's rc is set, *together is
 * store_write_batch()'s return, err its message, *lost whether conn can
 * serve no other statement (broken, or a call abandoned: replace it), and
 * *seconds the time it took; the thread gives conn and the items back.
 * Returns false, without waiting, while the thread still writes.
 */
bool writer_collect(struct writer *w, int *together, bool *lost, char *err, size_t errlen, double *seconds);

/*
 * Wait until the batch handed over is done, the thread giving up the
 * database call it waits in at once (the call is abandoned, as the loop's
 * own are: see db.h).
 */
void writer_wait(struct writer *w);

/* Stop the thread (after writer_wait()) and free w. */
void writer_stop(struct writer *w);

#endif
