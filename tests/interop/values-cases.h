/* SPDX-License-Identifier: MIT */
/*
 * The values of the value interop tests, as the C side builds them.  Keep in
 * step with values_cases.py: the same names, in the same order, for the
 * same values (the "case-names" test compares the names).
 */
#ifndef VALUES_CASES_H
#define VALUES_CASES_H

#include <stddef.h>
#include <stdint.h>

#include "mpconn.h"

struct value_case {
  const char *name;
  /* Packs the value; returns 0 or a negative code. */
  int (*build)(msgpack_packer *pk, const struct value_case *vc);
  /*
   * Sends the value on its own, with mpconn_sendf(); NULL to send what
   * build packs between mpconn_pack_begin() and mpconn_pack_end().
   */
  int (*send)(mpconn *c);
  /*
   * Further checks of a received value, with mpconn_unpackf(); NULL for
   * none.  Returns 0, or -1 after saying why on stderr.
   */
  int (*parse)(mpconn_msg *m);
  /* Arguments of the shared builders. */
  int64_t i;
  uint64_t u;
  double f;
  const char *s;
  size_t n;
};

extern const struct value_case value_cases[];
extern const size_t value_cases_count;

/* The case called name, or NULL. */
const struct value_case *value_case_find(const char *name);

#endif
