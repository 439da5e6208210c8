/* SPDX-License-Identifier: MIT */
/*
 * The C side of the value interop tests, driven by test_values.py.
 *
 *   MPCONN_FD=SPEC interop-values-peer STEP...
 *   interop-values-peer names
 *
 * SPEC names the descriptors the script left open, as for peer.c.  The steps
 * run in order; the first that does not go exactly as expected prints why on
 * stderr and exits with status 1.  NAME is a case of values-cases.c.
 *
 *   echo:NAME    mpconn_recv() gives exactly the value of case NAME, which
 *                its parse function (if any) also takes apart with
 *                mpconn_unpackf(); the value is sent back with mpconn_send()
 *   send:NAME    send the value of case NAME: with its own send function
 *                (mpconn_sendf()) if it has one, otherwise packed between
 *                mpconn_pack_begin() and mpconn_pack_end()
 *   expect:CODE  mpconn_recv() fails with MPCONN_CODE
 *
 * "names" prints the names of all cases, one a line, in table order.
 *
 * "Exactly" means the same msgpack-c types all the way down (a positive and
 * a negative integer differ, as do str and bin, and float 32 and float 64),
 * the same numbers, bytes and counts, floats bit for bit except that any
 * NaN matches any NaN, and maps with the same pairs in the same order.  Set
 * members (ext MPCONN_EXT_SET) may come in any order: they are compared as
 * multisets, read with mpconn_msg_set_members().
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpconn.h"
#include "peer-util.h"
#include "values-cases.h"

static mpconn *conn;

static const struct value_case *find(const char *name) {
  const struct value_case *vc = value_case_find(name);
  if (!vc)
    die("no case '%s' in values-cases.c", name);
  return vc;
}

/* ------------------------------------------------------------------------ */
/* Comparing values                                                         */
/* ------------------------------------------------------------------------ */

/*
 * Where a value's set members come from: a received message
 * (mpconn_msg_set_members()) or a zone of the caller's
 * (mpconn_set_unpack()).
 */
struct side {
  mpconn_msg *msg;
  msgpack_zone *zone;
};

static int set_members(const struct side *s, const msgpack_object *set,
                       msgpack_object_array *members) {
  return s->msg ? mpconn_msg_set_members(s->msg, set, members)
                : mpconn_set_unpack(set, s->zone, members);
}

/* The first difference found, when reporting. */
static char diff[512];

static const char *type_name(msgpack_object_type t) {
  switch (t) {
  case MSGPACK_OBJECT_NIL:
    return "NIL";
  case MSGPACK_OBJECT_BOOLEAN:
    return "BOOLEAN";
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
    return "POSITIVE_INTEGER";
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    return "NEGATIVE_INTEGER";
  case MSGPACK_OBJECT_FLOAT32:
    return "FLOAT32";
  case MSGPACK_OBJECT_FLOAT64:
    return "FLOAT64";
  case MSGPACK_OBJECT_STR:
    return "STR";
  case MSGPACK_OBJECT_BIN:
    return "BIN";
  case MSGPACK_OBJECT_ARRAY:
    return "ARRAY";
  case MSGPACK_OBJECT_MAP:
    return "MAP";
  case MSGPACK_OBJECT_EXT:
    return "EXT";
  }
  return "unknown type";
}

static void describe(const msgpack_object *o, char *buf, size_t size) {
  const char *t = type_name(o->type);
  switch (o->type) {
  case MSGPACK_OBJECT_BOOLEAN:
    snprintf(buf, size, "%s %s", t, o->via.boolean ? "true" : "false");
    break;
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
    snprintf(buf, size, "%s %llu", t, (unsigned long long)o->via.u64);
    break;
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    snprintf(buf, size, "%s %lld", t, (long long)o->via.i64);
    break;
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64:
    snprintf(buf, size, "%s %.17g", t, o->via.f64);
    break;
  case MSGPACK_OBJECT_STR:
    snprintf(buf, size, "%s of %u bytes \"%.*s\"", t, o->via.str.size,
             o->via.str.size > 40 ? 40 : (int)o->via.str.size,
             o->via.str.size ? o->via.str.ptr : "");
    break;
  case MSGPACK_OBJECT_BIN:
    snprintf(buf, size, "%s of %u bytes", t, o->via.bin.size);
    break;
  case MSGPACK_OBJECT_ARRAY:
    snprintf(buf, size, "%s of %u", t, o->via.array.size);
    break;
  case MSGPACK_OBJECT_MAP:
    snprintf(buf, size, "%s of %u pairs", t, o->via.map.size);
    break;
  case MSGPACK_OBJECT_EXT:
    snprintf(buf, size, "%s type %d of %u bytes", t, o->via.ext.type,
             o->via.ext.size);
    break;
  default:
    snprintf(buf, size, "%s", t);
    break;
  }
}

static bool differ(bool report, const char *path, const msgpack_object *got,
                   const msgpack_object *want, const char *what) {
  if (report) {
    char g[96], w[96];
    describe(got, g, sizeof(g));
    describe(want, w, sizeof(w));
    snprintf(diff, sizeof(diff), "at %s: %s: got %s, expected %s", path, what,
             g, w);
  }
  return false;
}

static bool same_bytes(const char *a, uint32_t na, const char *b, uint32_t nb) {
  /* msgpack-c gives an empty body a NULL pointer. */
  return na == nb && (na == 0 || memcmp(a, b, na) == 0);
}

static bool same_double(double a, double b) {
  if (isnan(a) || isnan(b))
    return isnan(a) && isnan(b);
  return memcmp(&a, &b, sizeof(a)) == 0;
}

static bool same(const msgpack_object *got, const struct side *gs,
                 const msgpack_object *want, const struct side *ws, char *path,
                 size_t plen, bool report);

/* Appends to path (a buffer of plen bytes) for the duration of a compare. */
static bool same_at(const msgpack_object *got, const struct side *gs,
                    const msgpack_object *want, const struct side *ws,
                    char *path, size_t plen, bool report, const char *fmt,
                    unsigned i) {
  size_t len = strlen(path);
  snprintf(path + len, plen - len, fmt, i);
  bool r = same(got, gs, want, ws, path, plen, report);
  path[len] = '\0';
  return r;
}

static bool same_set(const msgpack_object *got, const struct side *gs,
                     const msgpack_object *want, const struct side *ws,
                     char *path, size_t plen, bool report) {
  msgpack_object_array g, w;
  int rc = set_members(gs, got, &g);
  if (rc != 0)
    return differ(report, path, got, want,
                  gs->msg ? "mpconn_msg_set_members failed"
                          : "mpconn_set_unpack failed on the received set");
  rc = set_members(ws, want, &w);
  if (rc != 0)
    die("mpconn_set_unpack on an expected set at %s: %s", path, code_name(rc));
  if (g.size != w.size) {
    if (report)
      snprintf(diff, sizeof(diff), "at %s: got a set of %u, expected %u", path,
               g.size, w.size);
    return false;
  }
  bool *used = calloc(g.size ? g.size : 1, sizeof(*used));
  if (!used)
    die("out of memory");
  bool ok = true;
  for (uint32_t j = 0; ok && j < w.size; j++) {
    ok = false;
    for (uint32_t i = 0; !ok && i < g.size; i++) {
      if (!used[i] &&
          same_at(&g.ptr[i], gs, &w.ptr[j], ws, path, plen, false, "<%u>", i))
        ok = used[i] = true;
    }
    if (!ok && report) {
      char d[96];
      describe(&w.ptr[j], d, sizeof(d));
      snprintf(diff, sizeof(diff),
               "at %s: no member matches expected member %u, %s", path, j, d);
    }
  }
  free(used);
  return ok;
}

static bool same(const msgpack_object *got, const struct side *gs,
                 const msgpack_object *want, const struct side *ws, char *path,
                 size_t plen, bool report) {
  if (got->type != want->type)
    return differ(report, path, got, want, "another type");
  switch (want->type) {
  case MSGPACK_OBJECT_NIL:
    return true;
  case MSGPACK_OBJECT_BOOLEAN:
    return got->via.boolean == want->via.boolean ||
           differ(report, path, got, want, "another value");
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
    return got->via.u64 == want->via.u64 ||
           differ(report, path, got, want, "another value");
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    return got->via.i64 == want->via.i64 ||
           differ(report, path, got, want, "another value");
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64:
    return same_double(got->via.f64, want->via.f64) ||
           differ(report, path, got, want, "another value");
  case MSGPACK_OBJECT_STR:
    return same_bytes(got->via.str.ptr, got->via.str.size, want->via.str.ptr,
                      want->via.str.size) ||
           differ(report, path, got, want, "other bytes");
  case MSGPACK_OBJECT_BIN:
    return same_bytes(got->via.bin.ptr, got->via.bin.size, want->via.bin.ptr,
                      want->via.bin.size) ||
           differ(report, path, got, want, "other bytes");
  case MSGPACK_OBJECT_ARRAY:
    if (got->via.array.size != want->via.array.size)
      return differ(report, path, got, want, "another count");
    for (uint32_t i = 0; i < want->via.array.size; i++)
      if (!same_at(&got->via.array.ptr[i], gs, &want->via.array.ptr[i], ws,
                   path, plen, report, "[%u]", i))
        return false;
    return true;
  case MSGPACK_OBJECT_MAP:
    if (got->via.map.size != want->via.map.size)
      return differ(report, path, got, want, "another count");
    for (uint32_t i = 0; i < want->via.map.size; i++) {
      const msgpack_object_kv *g = &got->via.map.ptr[i];
      const msgpack_object_kv *w = &want->via.map.ptr[i];
      if (!same_at(&g->key, gs, &w->key, ws, path, plen, report, "{key %u}",
                   i) ||
          !same_at(&g->val, gs, &w->val, ws, path, plen, report, "{value %u}",
                   i))
        return false;
    }
    return true;
  case MSGPACK_OBJECT_EXT:
    if (got->via.ext.type != want->via.ext.type)
      return differ(report, path, got, want, "another ext type");
    if (want->via.ext.type == MPCONN_EXT_SET)
      return same_set(got, gs, want, ws, path, plen, report);
    return same_bytes(got->via.ext.ptr, got->via.ext.size, want->via.ext.ptr,
                      want->via.ext.size) ||
           differ(report, path, got, want, "other bytes");
  }
  return differ(report, path, got, want, "an unknown type");
}

/* ------------------------------------------------------------------------ */
/* Steps                                                                    */
/* ------------------------------------------------------------------------ */

static void do_echo(const char *name) {
  const struct value_case *vc = find(name);

  /* The expected value, packed by the case and decoded by msgpack-c. */
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  check_ok(vc->build(&pk, vc), "building the expected value");
  msgpack_zone zone;
  if (!msgpack_zone_init(&zone, 8192))
    die("out of memory");
  msgpack_object want;
  size_t off = 0;
  if (msgpack_unpack(sb.data, sb.size, &off, &zone, &want) !=
          MSGPACK_UNPACK_SUCCESS ||
      off != sb.size)
    die("msgpack-c cannot decode the expected value");

  mpconn_msg *m;
  check_ok(mpconn_recv(conn, &m, TIMEOUT_MS), "mpconn_recv");
  const msgpack_object *got = mpconn_msg_value(m);
  struct side gs = {.msg = m}, ws = {.zone = &zone};
  char path[256] = "$";
  if (!same(got, &gs, &want, &ws, path, sizeof(path), true))
    die("received another value than case %s: %s", name, diff);
  if (vc->parse && vc->parse(m) != 0)
    die("mpconn_unpackf checks of case %s failed (see above)", name);
  check_ok(mpconn_send(conn, got), "mpconn_send");

  mpconn_msg_free(m);
  msgpack_zone_destroy(&zone);
  msgpack_sbuffer_destroy(&sb);
}

static void do_send(const char *name) {
  const struct value_case *vc = find(name);
  if (vc->send) {
    check_ok(vc->send(conn), "mpconn_sendf");
    return;
  }
  msgpack_packer *pk;
  check_ok(mpconn_pack_begin(conn, &pk), "mpconn_pack_begin");
  int rc = vc->build(pk, vc);
  if (rc != 0) {
    mpconn_pack_abort(conn);
    check_ok(rc, "building the value");
  }
  check_ok(mpconn_pack_end(conn), "mpconn_pack_end");
}

/* name is a code's name without the MPCONN_ prefix. */
static void do_expect(const char *name) {
  static const char prefix[] = "MPCONN_";
  mpconn_msg *m = NULL;
  int rc = mpconn_recv(conn, &m, TIMEOUT_MS);
  if (rc == 0) {
    char d[96];
    describe(mpconn_msg_value(m), d, sizeof(d));
    mpconn_msg_free(m);
    die("received a value, %s, expected MPCONN_%s", d, name);
  }
  if (m != NULL)
    die("mpconn_recv failed but left a message");
  if (strcmp(mpconn_err_name(rc) + strlen(prefix), name) != 0)
    die("mpconn_recv returned %d %s, expected MPCONN_%s", rc, code_name(rc),
        name);
}

/* The argument of step "verb:arg", or NULL when the step is another verb. */
static const char *arg_of(const char *step, const char *verb) {
  size_t n = strlen(verb);
  return strncmp(step, verb, n) == 0 && step[n] == ':' ? step + n + 1 : NULL;
}

static void run_step(const char *step) {
  const char *arg;
  if ((arg = arg_of(step, "echo")))
    do_echo(arg);
  else if ((arg = arg_of(step, "send")))
    do_send(arg);
  else if ((arg = arg_of(step, "expect")))
    do_expect(arg);
  else
    die("unknown step");
}

int main(int argc, char **argv) {
  peer_name = "interop-values-peer";
  if (argc < 2) {
    fprintf(stderr,
            "usage: MPCONN_FD=SPEC %s STEP...\n"
            "       %s names\n",
            argv[0], argv[0]);
    return 2;
  }
  if (argc == 2 && strcmp(argv[1], "names") == 0) {
    for (size_t i = 0; i < value_cases_count; i++)
      printf("%s\n", value_cases[i].name);
    return fflush(stdout) == 0 ? 0 : 1;
  }
  const char *spec = getenv("MPCONN_FD");
  if (!spec)
    die("MPCONN_FD is not set");
  check_ok(mpconn_from_string(&conn, spec), "mpconn_from_string");
  for (int i = 1; i < argc; i++) {
    snprintf(peer_step, sizeof(peer_step), "%d '%s'", i, argv[i]);
    run_step(argv[i]);
  }
  mpconn_free(conn);
  return 0;
}
