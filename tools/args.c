/* SPDX-License-Identifier: MIT */
/* The arguments of a subcommand, with getopt_long() (see tool.h). */
#include "tool.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

void tool_args_init(struct tool_args *a, const char *cmd, int argc, char **argv,
                    const struct option *opts) {
  *a = (struct tool_args){cmd, argc, argv, opts, false};
  optind = 0; /* glibc: start afresh */
  opterr = 0; /* every message is ours */
}

static const struct option *by_val(const struct tool_args *a, int val) {
  for (const struct option *o = a->opts; o->name; o++)
    if (o->val == val)
      return o;
  return NULL;
}

/* The length of an option's name as written, without "--" and "=...". */
static size_t written_len(const char *arg) {
  const char *eq = strchr(arg + 2, '=');
  return eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
}

/* The argument getopt_long() has just read an option from. */
static const char *option_arg(const struct tool_args *a, const char *value) {
  /* A value given as the next argument is that argument itself. */
  bool apart = value && optind >= 2 && value == a->argv[optind - 1];
  return a->argv[apart ? optind - 2 : optind - 1];
}

/* Whether @arg names the long option @o by an abbreviation ("--max" for
 * "--max-size"), which getopt_long() accepts and we do not. */
static bool abbreviated(const struct option *o, const char *arg) {
  if (strncmp(arg, "--", 2) != 0)
    return false; /* -h */
  size_t n = written_len(arg);
  return n < strlen(o->name) && strncmp(arg + 2, o->name, n) == 0;
}

static int unknown(const struct tool_args *a, const char *arg) {
  /* Never echo a value: it may be a key. */
  tool_usage_error(a->cmd, "unknown option '%.*s'", (int)(written_len(arg) + 2),
                   arg);
  return TOOL_ARG_BAD;
}

int tool_next_arg(struct tool_args *a, const char **value) {
  *value = NULL;
  if (a->rest) {
    if (optind >= a->argc)
      return TOOL_ARG_END;
    *value = a->argv[optind++];
    return TOOL_ARG_OPERAND;
  }
  /* '-': operands come back in order, as val 1, whatever POSIXLY_CORRECT
   * says; ':': a missing value is told apart from an unknown option. */
  int c = getopt_long(a->argc, a->argv, "-:h", a->opts, NULL);
  const struct option *o = c > 0 ? by_val(a, c) : NULL;
  if (c == -1) {
    a->rest = true; /* after "--", or at the end */
    return tool_next_arg(a, value);
  }
  if (c == 1) {
    *value = optarg;
    return TOOL_ARG_OPERAND;
  }
  if (c == ':' || c == '?') {
    /* A known long option refused: read from the last argument. */
    o = optopt ? by_val(a, optopt) : NULL;
    if (o && abbreviated(o, a->argv[optind - 1]))
      return unknown(a, a->argv[optind - 1]);
  }
  if (c == ':') {
    tool_usage_error(a->cmd, "option '--%s' needs a value", o ? o->name : "?");
    return TOOL_ARG_BAD;
  }
  if (c == '?') {
    if (o) {
      /* Only a long option can be known and still refused: "--once=1". */
      tool_usage_error(a->cmd, "option '--%s' takes no value", o->name);
    } else if (optopt) {
      tool_usage_error(a->cmd, "unknown option '-%c'", optopt);
    } else {
      return unknown(a, a->argv[optind - 1]); /* unknown or ambiguous */
    }
    return TOOL_ARG_BAD;
  }
  if (o && abbreviated(o, option_arg(a, optarg)))
    return unknown(a, option_arg(a, optarg));
  *value = optarg;
  return c;
}

bool tool_size_arg(const struct tool_args *a, const char *name,
                   const char *value, size_t *out) {
  size_t v = 0;
  const char *s = value;
  bool ok = *s != '\0';
  for (; ok && *s; s++) {
    size_t d = (size_t)(*s - '0');
    ok = *s >= '0' && *s <= '9' && v <= (SIZE_MAX - d) / 10;
    v = v * 10 + d;
  }
  if (!ok) {
    tool_usage_error(a->cmd, "invalid %s '%s': expected a number of bytes",
                     name, value);
    return false;
  }
  *out = v;
  return true;
}
