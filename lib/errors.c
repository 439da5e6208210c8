/* SPDX-License-Identifier: MIT */
/* The error table: names and messages for every code in MPCONN_ERRNO_MAP. */
#include "mpconn-private.h"

#include <string.h>

/* errno values are small positive numbers (Linux keeps them below 4096):
 * only those are looked up, and -code cannot overflow. */
static bool is_errno(int code) { return code < 0 && code > -4096; }

const char *mpconn_strerror(int code) {
  switch (code) {
  case MPCONN_OK:
    return "success";
#define XX(name, value, msg)                                                   \
  case value:                                                                  \
    return msg;
    MPCONN_ERRNO_MAP(XX)
#undef XX
  default:
    break;
  }
  /* Other -errno values: glibc's constant description, never a buffer. */
  const char *d = is_errno(code) ? strerrordesc_np(-code) : NULL;
  return d ? d : "unknown error";
}

const char *mpconn_err_name(int code) {
  switch (code) {
  case MPCONN_OK:
    return "MPCONN_OK";
#define XX(name, value, msg)                                                   \
  case value:                                                                  \
    return "MPCONN_" #name;
    MPCONN_ERRNO_MAP(XX)
#undef XX
  default:
    return "MPCONN_UNKNOWN";
  }
}
