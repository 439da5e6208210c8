/* SPDX-License-Identifier: MIT */
/* The error table: names and messages for every code in MPCONN_ERRNO_MAP. */
#include "mpconn-private.h"

#include <string.h>

const char *mpconn_strerror(int code) {
  switch (code) {
#define XX(name, value, msg)                                                   \
  case value:                                                                  \
    return msg;
    MPCONN_ERRNO_MAP(XX)
#undef XX
  default:
    break;
  }
  /* Other -errno values: glibc's constant description, never a buffer. */
  const char *d = code < 0 ? strerrordesc_np(-code) : NULL;
  return d ? d : "unknown error";
}

const char *mpconn_err_name(int code) {
  switch (code) {
#define XX(name, value, msg)                                                   \
  case value:                                                                  \
    return "MPCONN_" #name;
    MPCONN_ERRNO_MAP(XX)
#undef XX
  default:
    return "MPCONN_UNKNOWN";
  }
}
