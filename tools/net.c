/* SPDX-License-Identifier: MIT */
/*
 * mpconn connect and mpconn listen: talk to a peer over a socket, like
 * Python's multiprocessing.connection.Client and Listener, with JSON lines
 * on standard input and output.
 */
#include "session.h"
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

/* The longest key read from --authkey-file. */
#define KEY_MAX ((size_t)64 * 1024)

/* The default receive limit: 16 MiB, so that what a peer sends takes at
 * most about 0.5 GiB to print (docs/cli.md, "Memory"). */
#define NET_MAX_SIZE ((size_t)16 * 1024 * 1024)

static const char connect_help[] =
    "Usage: mpconn connect [OPTION]... ADDRESS\n"
    "\n"
    "Connect to a listener (Python's multiprocessing.connection.Listener,\n"
    "or 'mpconn listen'), send each line of standard input, one JSON value,\n"
    "as one message, and write each message received as one line of JSON to\n"
    "standard output.\n"
    "\n"
    "ADDRESS is a socket file (anything with a '/'), @NAME (an abstract\n"
    "socket), HOST:PORT (TCP over IPv4) or [HOST]:PORT (TCP over IPv6).\n"
    "\n"
    "At the end of standard input the tool stops sending, so that the peer\n"
    "reads end of file, and prints what arrives until the peer closes.  When\n"
    "the peer closes first, the lines standard input already holds are sent,\n"
    "then the tool stops.\n"
    "\n"
    "Options:\n"
    "      --authkey-file FILE     authenticate with every byte FILE holds\n"
    "                              (default: $MPCONN_AUTHKEY, if set)\n"
    "      --handshake-timeout MS  give up connecting and authenticating\n"
    "                              after MS milliseconds (default 5000)\n"
    "      --max-size BYTES        refuse a message longer than BYTES, from\n"
    "                              its header alone (default 16777216, 16 "
    "MiB)\n"
    "      --max-line BYTES        refuse a line of standard input longer\n"
    "                              than BYTES (default 8388608, 8 MiB)\n"
    "  -h, --help                  show this help and exit\n"
    "\n"
    "Exit status: 0 once the peer has closed and standard input is done, 1\n"
    "when connecting, authenticating, a line, a message or an I/O error\n"
    "fails (one line on stderr says which), 2 for bad arguments.\n";

static const char listen_help[] =
    "Usage: mpconn listen [OPTION]... ADDRESS\n"
    "\n"
    "Listen at ADDRESS (as Python's multiprocessing.connection.Listener\n"
    "does) and serve one client at a time: send each line of standard input,\n"
    "one JSON value, as one message, and write each message received as one\n"
    "line of JSON to standard output.  Once listening, write\n"
    "'mpconn: listening on ADDRESS' to standard error, with the port or name\n"
    "the system chose for port 0 or a lone '@'.\n"
    "\n"
    "ADDRESS is a socket file (anything with a '/'), @NAME (an abstract\n"
    "socket), HOST:PORT (TCP over IPv4) or [HOST]:PORT (TCP over IPv6).\n"
    "\n"
    "A conversation ends as for 'mpconn connect'.  Then, without --once, the\n"
    "next client is served, until standard input has ended; lines not yet\n"
    "read are the next client's.  A client that fails to authenticate is\n"
    "refused, with a line on stderr, and the next one is awaited.\n"
    "\n"
    "Options:\n"
    "      --once                  serve one client, then exit; a client that\n"
    "                              fails to authenticate is an error\n"
    "      --authkey-file FILE     authenticate clients with every byte FILE\n"
    "                              holds (default: $MPCONN_AUTHKEY, if set)\n"
    "      --handshake-timeout MS  refuse a client not authenticated within\n"
    "                              MS milliseconds (default 5000)\n"
    "      --max-size BYTES        refuse a message longer than BYTES, from\n"
    "                              its header alone (default 16777216, 16 "
    "MiB)\n"
    "      --max-line BYTES        refuse a line of standard input longer\n"
    "                              than BYTES (default 8388608, 8 MiB)\n"
    "  -h, --help                  show this help and exit\n"
    "\n"
    "Exit status: 0 once standard input is done and the last client has\n"
    "closed, 1 when listening, a line, a message or an I/O error fails, or\n"
    "with --once when the client fails to authenticate (one line on stderr\n"
    "says which), 2 for bad arguments.\n";

struct net_args {
  const char *address;
  const char *keyfile;
  int handshake_timeout_ms; /* 0: the library's default */
  bool once;
  size_t max_size; /* the longest frame received */
  size_t max_line; /* the longest line of standard input */
};

/* 1 to 2147483647, in decimal digits. */
static bool parse_ms(const char *s, int *out) {
  long v = 0;
  if (!*s)
    return false;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return false;
    v = v * 10 + (*s - '0');
    if (v > INT_MAX)
      return false;
  }
  if (v == 0)
    return false;
  *out = (int)v;
  return true;
}

enum {
  OPT_ONCE = 256,
  OPT_AUTHKEY,
  OPT_AUTHKEY_FILE,
  OPT_HANDSHAKE_TIMEOUT,
  OPT_MAX_SIZE,
  OPT_MAX_LINE,
};

/* listen's; connect's are the same without the first. */
static const struct option options[] = {
    {"once", no_argument, NULL, OPT_ONCE},
    {"authkey", optional_argument, NULL, OPT_AUTHKEY},
    {"authkey-file", required_argument, NULL, OPT_AUTHKEY_FILE},
    {"handshake-timeout", required_argument, NULL, OPT_HANDSHAKE_TIMEOUT},
    {"max-size", required_argument, NULL, OPT_MAX_SIZE},
    {"max-line", required_argument, NULL, OPT_MAX_LINE},
    {"help", no_argument, NULL, 'h'},
    {0},
};

/* -1 to go on, or the exit status (after --help or a usage error). */
static int parse_args(const char *cmd, const char *help, int argc, char **argv,
                      struct net_args *a) {
  bool listen = strcmp(cmd, "listen") == 0;
  *a = (struct net_args){.max_size = NET_MAX_SIZE,
                         .max_line = TOOL_DEFAULT_MAX_LINE};
  struct tool_args args;
  tool_args_init(&args, cmd, argc, argv, listen ? options : options + 1);
  const char *value;
  for (int opt; (opt = tool_next_arg(&args, &value)) != TOOL_ARG_END;) {
    switch (opt) {
    case 'h':
      return tool_print(help);
    case OPT_ONCE:
      a->once = true;
      break;
    case OPT_AUTHKEY:
      /* Never echo the argument: it may hold the key. */
      return tool_usage_error(cmd, "option '--authkey' is not accepted: "
                                   "arguments are visible to other users; "
                                   "use --authkey-file FILE or "
                                   "MPCONN_AUTHKEY");
    case OPT_AUTHKEY_FILE:
      a->keyfile = value;
      break;
    case OPT_HANDSHAKE_TIMEOUT:
      if (!parse_ms(value, &a->handshake_timeout_ms))
        return tool_usage_error(cmd,
                                "invalid --handshake-timeout '%s': expected "
                                "milliseconds from 1 to 2147483647",
                                value);
      break;
    case OPT_MAX_SIZE:
      if (!tool_size_arg(&args, "--max-size", value, &a->max_size))
        return TOOL_USAGE;
      break;
    case OPT_MAX_LINE:
      if (!tool_size_arg(&args, "--max-line", value, &a->max_line))
        return TOOL_USAGE;
      break;
    case TOOL_ARG_OPERAND:
      if (a->address)
        return tool_usage_error(cmd, "unexpected argument '%s'", value);
      a->address = value;
      break;
    default:
      return TOOL_USAGE;
    }
  }
  if (!a->address)
    return tool_usage_error(cmd, "missing ADDRESS");
  return -1;
}

/* A key, from a file (then owned, and wiped when freed) or from the
 * environment. */
struct key {
  char *data;
  size_t len;
  bool owned;
};

static void key_free(struct key *k) {
  if (k->owned && k->data) {
    OPENSSL_cleanse(k->data, k->len);
    free(k->data);
  }
  *k = (struct key){0};
}

/* Every byte of the file, up to KEY_MAX: 0, or -errno / 1 for too long. */
static int read_key_file(const char *path, struct key *k) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  /* One byte more than allowed, to see that a file is too long. */
  char *buf = malloc(KEY_MAX + 1);
  if (!buf) {
    close(fd);
    return MPCONN_ENOMEM;
  }
  size_t len = 0;
  int rc = 0;
  while (len <= KEY_MAX) {
    ssize_t n = read(fd, buf + len, KEY_MAX + 1 - len);
    if (n == 0)
      break;
    if (n < 0) {
      if (errno == EINTR)
        continue;
      rc = -errno;
      break;
    }
    len += (size_t)n;
  }
  close(fd);
  if (rc == 0 && len > KEY_MAX)
    rc = 1;
  if (rc != 0) {
    OPENSSL_cleanse(buf, len);
    free(buf);
    return rc;
  }
  *k = (struct key){.data = buf, .len = len, .owned = true};
  return 0;
}

/* The key: --authkey-file's, else $MPCONN_AUTHKEY's, else none (NULL). */
static int load_key(const char *cmd, const char *file, struct key *k) {
  *k = (struct key){0};
  const char *what;
  if (file) {
    int rc = read_key_file(file, k);
    if (rc == 1) {
      fprintf(stderr,
              "mpconn: %s: --authkey-file %s: the key is longer than %zu "
              "bytes\n",
              cmd, file, KEY_MAX);
      return TOOL_FAILED;
    }
    if (rc < 0) {
      fprintf(stderr, "mpconn: %s: --authkey-file %s: %s\n", cmd, file,
              mpconn_strerror(rc));
      return TOOL_FAILED;
    }
    what = "--authkey-file ";
  } else {
    const char *env = getenv("MPCONN_AUTHKEY");
    if (!env)
      return TOOL_OK;
    *k = (struct key){.data = (char *)env, .len = strlen(env)};
    what = "MPCONN_AUTHKEY";
    file = "";
  }
  /* Python 3.11 and 3.12 listeners take an empty key for none, and a key
   * that went missing must not turn authentication off. */
  if (k->len == 0) {
    fprintf(stderr, "mpconn: %s: %s%s: the key is empty\n", cmd, what, file);
    key_free(k);
    return TOOL_FAILED;
  }
  return TOOL_OK;
}

/* A closed standard input or output would be taken by the first socket
 * opened, and then read from or written to as if it were the stream. */
static int check_std_streams(const char *cmd) {
  static const char *const names[] = {"standard input", "standard output"};
  for (int fd = 0; fd < 2; fd++) {
    if (fcntl(fd, F_GETFD) < 0) {
      fprintf(stderr, "mpconn: %s: %s: %s\n", cmd, names[fd],
              mpconn_strerror(-errno));
      return TOOL_FAILED;
    }
  }
  return TOOL_OK;
}

/* Arguments, the standard streams and the key: -1 to go on, or the exit
 * status. */
static int prepare(const char *cmd, const char *help, int argc, char **argv,
                   struct net_args *a, struct key *k, mpconn_net_options *o) {
  int status = parse_args(cmd, help, argc, argv, a);
  if (status >= 0)
    return status;
  if ((status = check_std_streams(cmd)) != TOOL_OK)
    return status;
  if ((status = load_key(cmd, a->keyfile, k)) != TOOL_OK)
    return status;
  *o = (mpconn_net_options){
      .authkey = k->data,
      .authkey_len = k->len,
      .handshake_timeout_ms = a->handshake_timeout_ms,
  };
  return -1;
}

int tool_connect(int argc, char **argv) {
  struct net_args a = {0};
  struct key k;
  mpconn_net_options o;
  int status = prepare("connect", connect_help, argc, argv, &a, &k, &o);
  if (status >= 0)
    return status;
  mpconn *c;
  int rc = mpconn_client(&c, a.address, &o);
  key_free(&k);
  if (rc < 0) {
    fprintf(stderr, "mpconn: connect: %s: %s\n", a.address,
            mpconn_strerror(rc));
    return TOOL_FAILED;
  }
  rc = mpconn_set_max_size(c, a.max_size);
  if (rc < 0) {
    fprintf(stderr, "mpconn: connect: %s\n", mpconn_strerror(rc));
    mpconn_free(c);
    return TOOL_FAILED;
  }
  struct tool_input in;
  tool_input_init(&in, STDIN_FILENO, a.max_line);
  status = tool_session("connect", c, &in);
  mpconn_free(c);
  tool_input_free(&in);
  return status;
}

/* Serve clients one after another, as the help says. */
static int serve(mpconn_listener *l, const struct net_args *a) {
  struct tool_input in;
  tool_input_init(&in, STDIN_FILENO, a->max_line);
  int status = TOOL_OK;
  for (;;) {
    mpconn *c;
    int rc = mpconn_listener_accept(l, &c, -1);
    if (rc == MPCONN_EAUTH) {
      fprintf(stderr, "mpconn: listen: refused a client: %s\n",
              mpconn_strerror(rc));
      if (a->once) {
        status = TOOL_FAILED;
        break;
      }
      continue;
    }
    if (rc < 0) {
      fprintf(stderr, "mpconn: listen: accepting a client: %s\n",
              mpconn_strerror(rc));
      status = TOOL_FAILED;
      break;
    }
    rc = mpconn_set_max_size(c, a->max_size);
    if (rc < 0) {
      fprintf(stderr, "mpconn: listen: %s\n", mpconn_strerror(rc));
      status = TOOL_FAILED;
    } else {
      status = tool_session("listen", c, &in);
    }
    mpconn_free(c);
    if (status != TOOL_OK || a->once || in.eof)
      break;
  }
  tool_input_free(&in);
  return status;
}

int tool_listen(int argc, char **argv) {
  struct net_args a = {0};
  struct key k;
  mpconn_net_options o;
  int status = prepare("listen", listen_help, argc, argv, &a, &k, &o);
  if (status >= 0)
    return status;
  mpconn_listener *l;
  int rc = mpconn_listener_new(&l, a.address, &o);
  key_free(&k); /* the listener has its own copy */
  if (rc < 0) {
    fprintf(stderr, "mpconn: listen: %s: %s\n", a.address, mpconn_strerror(rc));
    return TOOL_FAILED;
  }
  char bound[MPCONN_ADDRESS_MAX];
  rc = mpconn_listener_address(l, bound, sizeof(bound));
  if (rc < 0) {
    fprintf(stderr, "mpconn: listen: %s: %s\n", a.address, mpconn_strerror(rc));
    mpconn_listener_free(l);
    return TOOL_FAILED;
  }
  fprintf(stderr, "mpconn: listening on %s\n", bound);
  status = serve(l, &a);
  mpconn_listener_free(l);
  return status;
}
