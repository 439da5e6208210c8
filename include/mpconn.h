/* SPDX-License-Identifier: MIT */
/*
 * mpconn — connections that carry length-prefixed msgpack frames over OS
 * pipes and sockets, wire-compatible with Python's multiprocessing.connection.
 *
 * Conventions used throughout this header
 * ---------------------------------------
 * Return values: every call that can fail returns int: 0 (or a count) on
 * success and a negative code on failure.  Codes are listed once in
 * MPCONN_ERRNO_MAP below; OS errors not listed there pass through as -errno.
 * mpconn_strerror() and mpconn_err_name() describe any code.
 *
 * Ownership, in each function's "Ownership:" line:
 *   new       the caller owns the returned object and frees it as stated;
 *   borrowed  the library keeps ownership; valid until the stated event;
 *   steals    the library takes ownership, also when the call fails.
 *
 * Timeouts are in milliseconds; a negative timeout waits forever and 0
 * never blocks.
 *
 * Threads: a connection may be used by one sending thread and one receiving
 * thread at the same time (duplex connections).  Any other concurrent use of
 * one connection — two senders, two receivers, or mpconn_close()/
 * mpconn_free() while another call is running — needs the caller's own lock.
 * Distinct connections are independent.  The library keeps no global state
 * and never changes process-wide signal settings.
 *
 * Signals: a send whose reader is gone returns MPCONN_EPIPE; SIGPIPE is never
 * delivered to the process by the library, whatever its disposition.
 *
 * File descriptors: every descriptor the library creates or wraps is
 * close-on-exec.  See mpconn_set_inheritable() to hand one to an exec'd child.
 */
#ifndef MPCONN_H
#define MPCONN_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <msgpack.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MPCONN_BUILDING)
#define MPCONN_EXPORT __attribute__((visibility("default")))
#else
#define MPCONN_EXPORT
#endif

#define MPCONN_VERSION_MAJOR 0
#define MPCONN_VERSION_MINOR 1
#define MPCONN_VERSION_PATCH 0
#define MPCONN_VERSION_HEX                                                     \
  ((MPCONN_VERSION_MAJOR << 16) | (MPCONN_VERSION_MINOR << 8) |                \
   MPCONN_VERSION_PATCH)

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * XX(name, value, message).  Library conditions use codes below -4000,
 * outside the errno range; the OS conditions callers commonly test for are
 * listed with their -errno value.
 */
#define MPCONN_ERRNO_MAP(XX)                                                   \
  XX(EOF, -4095, "end of file: the peer closed the connection")                \
  XX(ETRUNCATED, -4094, "got end of file during message")                      \
  XX(ECLOSED, -4093, "handle is closed")                                       \
  XX(EREADONLY, -4092, "connection is read-only")                              \
  XX(EWRITEONLY, -4091, "connection is write-only")                            \
  XX(ETOOBIG, -4090, "bad message length: larger than the receive limit")      \
  XX(EBADFRAME, -4089, "malformed frame: invalid length header")               \
  XX(ETIMEDOUT, -4088, "timed out")                                            \
  XX(ETOOSHORT, -4087, "buffer too short for the message")                     \
  XX(EBADVALUE, -4086, "malformed msgpack value")                              \
  XX(ETOODEEP, -4085, "msgpack value nested too deeply")                       \
  XX(EBADSET, -4084, "malformed set: payload is not exactly one array")        \
  XX(EFORMAT, -4083, "invalid format string")                                  \
  XX(EUNPACK, -4082, "value does not match the format")                        \
  XX(EAUTH, -4081, "authentication failed")                                    \
  XX(EBADADDR, -4080, "malformed address")                                     \
  XX(EEMPTY, -4079, "queue is empty")                                          \
  XX(EFULL, -4078, "queue is full")                                            \
  XX(EDECODELIMIT, -4077, "value larger than the decode limit once decoded")   \
  XX(EFDPENDING, -4076, "a descriptor comes next, not a frame")                \
  XX(ENOFD, -4075, "a frame comes next, not a descriptor")                     \
  XX(EBADFDS, -4074, "descriptors where none belong; they were closed")        \
  XX(EBADSHM, -4073, "shared-memory message refused: not a sealed memfd")      \
  XX(EBADRING, -4072, "shared ring refused or corrupted")                      \
  XX(EOWNERDEAD, -4070,                                                        \
     "the previous holder died holding the lock; the caller holds it now")     \
  XX(EBROKEN, -4069, "broken barrier")                                         \
  XX(ETYPE, -4068, "unknown type code, or a value of the wrong type for it")   \
  XX(ESHMSIZE, -4067, "shared memory segment too small for the length")        \
  XX(ENOTOWNER, -4066, "lock not held by the caller")                          \
  XX(EOVERRELEASE, -4065, "semaphore or lock released too many times")         \
  XX(EBADNAME, -4064, "malformed shared memory name")                          \
  XX(EPIPE, -EPIPE, "broken pipe: the peer has closed its end")                \
  XX(EAGAIN, -EAGAIN, "would block: the send buffer is full")                  \
  XX(ECONNRESET, -ECONNRESET, "connection reset by peer")                      \
  XX(EINVAL, -EINVAL, "invalid argument")                                      \
  XX(ENOMEM, -ENOMEM, "out of memory")                                         \
  XX(EBADF, -EBADF, "bad file descriptor")                                     \
  XX(EADDRINUSE, -EADDRINUSE, "address already in use")                        \
  XX(EBUSY, -EBUSY, "busy: the connection holds unread or unsent bytes")       \
  XX(ECONNREFUSED, -ECONNREFUSED, "connection refused")

typedef enum mpconn_errno {
  MPCONN_OK = 0, /* success: "MPCONN_OK", "success" */
#define MPCONN_ERR_ENUM_(name, value, msg) MPCONN_##name = (value),
  MPCONN_ERRNO_MAP(MPCONN_ERR_ENUM_)
#undef MPCONN_ERR_ENUM_
} mpconn_errno;

/**
 * mpconn_strerror() - describe an error code.
 * @code: a negative code returned by this library (or any -errno), or 0.
 *
 * Ownership: borrowed; the string is constant and lives forever.
 * Return: a message; "success" for 0; "unknown error" for a code nobody
 * defines (any int is accepted, INT_MIN too).
 */
MPCONN_EXPORT const char *mpconn_strerror(int code);

/**
 * mpconn_err_name() - the symbolic name of an error code.
 * @code: a negative code, or 0.
 *
 * Ownership: borrowed; the string is constant and lives forever.
 * Return: for example "MPCONN_EOF"; "MPCONN_OK" for 0; "MPCONN_UNKNOWN"
 * for an unlisted code.
 */
MPCONN_EXPORT const char *mpconn_err_name(int code);

/* ------------------------------------------------------------------------ */
/* Connections                                                              */
/* ------------------------------------------------------------------------ */

/** An open connection; opaque. */
typedef struct mpconn mpconn;
/** A listening socket (see "Listeners and clients"); opaque. */
typedef struct mpconn_listener mpconn_listener;
/** A received message and the frame it lives in (see "Values"); opaque. */
typedef struct mpconn_msg mpconn_msg;

/** Default per-connection receive limit: 64 MiB. */
#define MPCONN_DEFAULT_MAX_SIZE ((size_t)64 * 1024 * 1024)
/** Pass as a size limit to mean "no limit". */
#define MPCONN_UNLIMITED SIZE_MAX

/**
 * mpconn_pipe() - create a connected pair, like Python's Pipe(duplex).
 * @a: receives the first end.
 * @b: receives the second end.
 * @duplex: true: a socketpair, both ends send and receive.  false: a pipe;
 *          @a only receives and @b only sends (Python's order).
 *
 * Ownership: new; free both ends with mpconn_free().
 * Return: 0, or a negative code (then *a and *b are NULL).
 */
MPCONN_EXPORT int mpconn_pipe(mpconn **a, mpconn **b, bool duplex);

/** For mpconn_pipe_ex(): both ends send and receive (a socketpair). */
#define MPCONN_PIPE_DUPLEX 1
/** For mpconn_pipe_ex(): frames travel through shared memory rings. */
#define MPCONN_PIPE_RING 2
/** Default size of each ring of a ring pair: 1 MiB per direction. */
#define MPCONN_DEFAULT_RING ((size_t)1024 * 1024)

/**
 * mpconn_pipe_ex() - create a connected pair, with options.
 * @a: receives the first end.
 * @b: receives the second end.
 * @flags: MPCONN_PIPE_DUPLEX as mpconn_pipe(..., true), and/or
 *         MPCONN_PIPE_RING (which makes the pair duplex): for two mpconn
 *         processes forked after this call, frames travel through one
 *         single-producer, single-consumer ring per direction in a shared
 *         mapping instead of through the socket, which stays the
 *         descriptor to poll and carries end of file.  A send returns
 *         when its frame is in the ring, visible to the receiver; a
 *         system call happens only to wake a receiver that sleeps, or to
 *         sleep.  Every call keeps its meaning: receives, timeouts,
 *         mpconn_poll(), mpconn_wait(), MPCONN_EOF after the last message
 *         and MPCONN_ETRUNCATED for a sender that died inside a frame.  A
 *         send to a receiver that has died returns MPCONN_EPIPE once it
 *         would wake it or wait for room (a frame that fits is taken, as a
 *         socket's buffer takes one).  Descriptor passing and
 *         shared-memory messages are not available on a ring pair.  Both
 *         ends are Python-compatible only as far as their socket goes:
 *         never hand a ring end to Python.
 * @ring: bytes of each ring (rounded up to a power of two, at least 4 KiB;
 *        0: MPCONN_DEFAULT_RING).  Messages larger than the ring stream
 *        through it.
 *
 * Ownership: new; free both ends with mpconn_free().
 * Return: 0, MPCONN_EINVAL, MPCONN_ENOMEM, -errno.
 */
MPCONN_EXPORT int mpconn_pipe_ex(mpconn **a, mpconn **b, unsigned flags,
                                 size_t ring);

/**
 * mpconn_ring_upgrade() - move a connection's frames to shared rings.
 * @c: a connection over a Unix socket, both ways, between two mpconn
 *     processes on this machine that both call this (a socketpair, a Unix
 *     path or abstract listener and client), with nothing received and
 *     not handed out and nothing held to send.
 * @ring: bytes of the ring this side receives through (rounded up to a
 *        power of two, at least 4 KiB, at most 1 GiB; 0:
 *        MPCONN_DEFAULT_RING).
 * @timeout_ms: how long to wait for the peer's side of the exchange.
 *
 * Each side sends an offer (a frame) and the memfd of the ring it will
 * read, sealed against shrinking and growing; each checks the other's
 * (its size, its seals) before mapping it.  From then on the connection
 * is a ring pair's end, as mpconn_pipe_ex() makes: see there.  Never call
 * it toward a Python peer (which would receive the offer as a message).
 * Return: 0; MPCONN_EBUSY; MPCONN_EINVAL (not a Unix socket both ways,
 * already rings, a size out of bounds); MPCONN_EBADRING (the peer's offer
 * is not one: not an offer, a size out of bounds, a memfd not sealed or of
 * another size); MPCONN_ETIMEDOUT; the codes of mpconn_send_bytes(),
 * mpconn_recv_bytes() and mpconn_recv_fd().  On failure the connection is
 * left as it was, though its byte stream may hold part of the exchange.
 */
MPCONN_EXPORT int mpconn_ring_upgrade(mpconn *c, size_t ring, int timeout_ms);

/** mpconn_ring_size() - each ring's size for a ring pair's end, else 0. */
MPCONN_EXPORT size_t mpconn_ring_size(const mpconn *c);

/**
 * mpconn_set_spin() - spin before sleeping, on a ring pair's end.
 * @c: a ring pair's end.
 * @spin_us: how long a receive that finds its ring empty keeps looking
 *           before it sleeps, in microseconds; 0 (the default) never
 *           spins.  Spinning saves the sender a system call and the
 *           receiver a wake-up when messages come close together, at the
 *           price of a core kept busy for up to @spin_us each time the
 *           ring runs dry.
 * Return: 0, MPCONN_EINVAL (not a ring pair, negative), MPCONN_ECLOSED.
 */
MPCONN_EXPORT int mpconn_set_spin(mpconn *c, int spin_us);

/**
 * mpconn_from_fds() - wrap descriptors the caller already has.
 * @c: receives the connection.
 * @rfd: descriptor to receive from, or -1 for a send-only connection.
 * @wfd: descriptor to send to, or -1 for a receive-only connection.
 *       Pass the same descriptor twice for a socket.
 *
 * The descriptors are made close-on-exec.  Their blocking mode is left as
 * it is (it is shared with every process holding the same open file);
 * non-blocking descriptors work too.
 *
 * Ownership: steals @rfd and @wfd; they are closed by mpconn_close() or
 * mpconn_free(), and closed before return if the call fails.
 * Return: 0, or MPCONN_EINVAL (both -1), MPCONN_EBADF, MPCONN_ENOMEM.
 */
MPCONN_EXPORT int mpconn_from_fds(mpconn **c, int rfd, int wfd);

/**
 * mpconn_from_fd() - wrap one descriptor, finding its direction.
 * @c: receives the connection.
 * @fd: a socket (both directions), a pipe's read end (receive-only) or a
 *      pipe's write end (send-only); the access mode of the open file
 *      decides.
 *
 * Ownership: steals @fd, as mpconn_from_fds().
 * Return: 0 or a negative code.
 */
MPCONN_EXPORT int mpconn_from_fd(mpconn **c, int fd);

/**
 * mpconn_from_string() - wrap descriptors named by a string.
 * @c: receives the connection.
 * @spec: "FD" (as mpconn_from_fd()) or "RFD,WFD" (as mpconn_from_fds(), -1
 *        for none), as written by mpconn_fd_string().  Used by exec'd
 *        children to find the descriptor their parent left open for them in
 *        argv or in an environment variable such as MPCONN_FD.
 *
 * Ownership: steals the named descriptors once @spec has parsed; @spec is
 * borrowed for the call.
 * Return: 0, MPCONN_EINVAL for a malformed @spec, or a negative code.
 */
MPCONN_EXPORT int mpconn_from_string(mpconn **c, const char *spec);

/**
 * mpconn_fd_string() - name a connection's descriptors for a child.
 * @c: the connection.
 * @buf: receives "FD" when both directions use one descriptor, otherwise
 *       "RFD,WFD" (-1 for a missing direction); NUL-terminated.
 * @size: size of @buf; 32 bytes are always enough.
 *
 * Ownership: @buf is the caller's.
 * Return: 0, MPCONN_ECLOSED, or MPCONN_EINVAL if @buf is too small.
 */
MPCONN_EXPORT int mpconn_fd_string(const mpconn *c, char *buf, size_t size);

/**
 * mpconn_set_inheritable() - let a connection's descriptors survive exec.
 * @c: the connection.
 * @inheritable: true clears close-on-exec on exactly this connection's
 *               descriptors; false sets it again.
 *
 * Call it in the child after fork() and before exec(): it only calls
 * fcntl() and is async-signal-safe.  Calling it in a multi-threaded parent
 * would leak the descriptor into children other threads spawn meanwhile.
 *
 * Return: 0, MPCONN_ECLOSED, or -errno.
 */
MPCONN_EXPORT int mpconn_set_inheritable(mpconn *c, bool inheritable);

/**
 * mpconn_fileno() - the descriptor to wait on.
 * @c: the connection.
 *
 * Ownership: borrowed; the descriptor stays the connection's and is valid
 * until mpconn_close().  Do not read from or write to it directly: bytes
 * may already sit in the connection's receive buffer.
 * Return: the receiving descriptor (the sending one for a send-only
 * connection), or MPCONN_ECLOSED.
 */
MPCONN_EXPORT int mpconn_fileno(const mpconn *c);

/**
 * mpconn_close() - close a connection's descriptors.
 * @c: the connection, or NULL.
 *
 * Idempotent.  Frames already sent stay readable by the peer, which then
 * sees MPCONN_EOF; frames held back by mpconn_cork() are written first, and
 * a value being packed is dropped.  Afterwards every call on @c returns
 * MPCONN_ECLOSED.
 *
 * With a send timeout (mpconn_set_send_timeout()), what the send buffer
 * holds is written within that timeout (0: what the descriptor takes now).
 * If some is left, the connection is closed all the same and the rest is
 * dropped: the peer gets the frames written, then MPCONN_ETRUNCATED if the
 * last one was cut, else MPCONN_EOF; and the close says so by returning
 * MPCONN_EAGAIN or MPCONN_ETIMEDOUT.  A server that must deliver every
 * frame calls mpconn_flush() until it returns 0 (waiting for POLLOUT on
 * mpconn_send_fileno() in between) before it closes.
 * Return: 0, MPCONN_EAGAIN or MPCONN_ETIMEDOUT (frames dropped, see above),
 * or the first error writing held frames or close() reported.
 */
MPCONN_EXPORT int mpconn_close(mpconn *c);

/**
 * mpconn_free() - close a connection and release its memory.
 * @c: the connection, or NULL (a no-op).
 *
 * Ownership: @c is invalid afterwards; messages already received stay
 * valid (they own their memory).
 */
MPCONN_EXPORT void mpconn_free(mpconn *c);

/**
 * mpconn_set_max_size() - set the receive limit.
 * @c: the connection.
 * @max_size: the largest payload a receive accepts, in bytes;
 *            MPCONN_UNLIMITED for none.  Default MPCONN_DEFAULT_MAX_SIZE.
 *
 * The limit is checked against the length header before anything is
 * allocated.  A larger frame makes the receive fail with MPCONN_ETOOBIG.
 * Return: 0 or MPCONN_ECLOSED.
 */
MPCONN_EXPORT int mpconn_set_max_size(mpconn *c, size_t max_size);

/** mpconn_get_max_size() - the current receive limit of @c. */
MPCONN_EXPORT size_t mpconn_get_max_size(const mpconn *c);

/**
 * Default per-connection decode limit: 384 MiB of msgpack_object tree,
 * enough for any frame of up to 16 MiB, and for a full 64 MiB frame of
 * float64s or of 32-bit ints.
 */
#define MPCONN_DEFAULT_MAX_DECODED ((size_t)384 * 1024 * 1024)

/**
 * mpconn_set_max_decoded() - set the decode limit.
 * @c: the connection.
 * @max_decoded: the most memory a received value's tree may take, in
 *               bytes: the msgpack_object tree mpconn_recv() builds, and
 *               the members of its sets at any depth, which
 *               mpconn_msg_set_members() decodes on demand; the frame
 *               itself is not counted.  MPCONN_UNLIMITED for none.
 *               Default MPCONN_DEFAULT_MAX_DECODED.
 *
 * A frame of N bytes decodes to at most 24 * N bytes of tree, so the
 * receive limit bounds it too; this limit bounds it lower where frames
 * are large.  Each array item takes 24 bytes (one msgpack_object) and each
 * map pair 48, so a frame of one-byte items takes 24 times its size: the
 * default passes any frame of up to 16 MiB, and frames of up to 64 MiB
 * whose items take 4 bytes or more on average.  With the defaults, one
 * received value takes at most 64 MiB of frame and 384 MiB of tree.
 * The tree is counted when the frame is checked, before anything is
 * allocated for it; a value over the limit is consumed and reported as
 * MPCONN_EDECODELIMIT, and the connection stays usable.
 * Return: 0 or MPCONN_ECLOSED.
 */
MPCONN_EXPORT int mpconn_set_max_decoded(mpconn *c, size_t max_decoded);

/** mpconn_get_max_decoded() - the current decode limit of @c. */
MPCONN_EXPORT size_t mpconn_get_max_decoded(const mpconn *c);

/** mpconn_readable() - whether @c can receive (false when closed). */
MPCONN_EXPORT bool mpconn_readable(const mpconn *c);

/** mpconn_writable() - whether @c can send (false when closed). */
MPCONN_EXPORT bool mpconn_writable(const mpconn *c);

/* ------------------------------------------------------------------------ */
/* Bytes                                                                    */
/* ------------------------------------------------------------------------ */

/**
 * mpconn_send_bytes() - send one frame holding @len raw bytes.
 * @c: a connection that can send.
 * @data: the payload (may be NULL when @len is 0).
 * @len: payload length; lengths over 0x7fffffff use the 64-bit header.
 *
 * Blocks until the whole frame is written (corked, see mpconn_cork(),
 * until it is in the send buffer).  Frames are never interleaved.
 *
 * Ownership: @data is borrowed for the call.
 * Return: 0, MPCONN_EPIPE (the reader is gone), MPCONN_EREADONLY,
 * MPCONN_ECLOSED, or -errno.
 */
MPCONN_EXPORT int mpconn_send_bytes(mpconn *c, const void *data, size_t len);

/**
 * mpconn_recv_bytes() - receive one frame into a new buffer.
 * @c: a connection that can receive.
 * @data: receives the payload; never NULL on success, even for 0 bytes.
 * @len: receives the payload length.
 * @maxlength: refuse messages longer than this (Python's maxlength), on
 *             top of the connection's limit; MPCONN_UNLIMITED for none.
 * @timeout_ms: how long to wait for the whole message.
 *
 * Ownership: *data is new; release it with free().
 * Return: 0; MPCONN_EOF when the peer closed at a frame boundary;
 * MPCONN_ETRUNCATED when it closed inside a frame; MPCONN_ETOOBIG;
 * MPCONN_EBADFRAME; MPCONN_ETIMEDOUT (nothing is consumed; a partly
 * received message is kept and completed by the next receive);
 * MPCONN_EWRITEONLY; MPCONN_ECLOSED; MPCONN_ENOMEM; -errno.
 *
 * MPCONN_ETRUNCATED, MPCONN_ETOOBIG and MPCONN_EBADFRAME are sticky: every
 * later receive on @c returns the same code, because the byte stream can
 * no longer be trusted.  The caller may still send on a duplex connection,
 * and should close it.  MPCONN_EOF is sticky too.
 */
MPCONN_EXPORT int mpconn_recv_bytes(mpconn *c, void **data, size_t *len,
                                    size_t maxlength, int timeout_ms);

/**
 * mpconn_recv_bytes_into() - receive one frame into the caller's buffer.
 * @c: a connection that can receive.
 * @buf: the buffer.
 * @size: size of @buf in bytes.
 * @offset: where in @buf the payload goes (Python's offset).
 * @len: receives the payload length; on MPCONN_ETOOSHORT, the payload
 *       length the buffer would need from @offset on.
 * @timeout_ms: how long to wait.
 *
 * When the payload does not fit in @size - @offset bytes the call returns
 * MPCONN_ETOOSHORT and the message stays queued: the next receive of any
 * kind returns it.
 *
 * A frame larger than the 64 KiB receive chunk is read straight into @buf.
 * If a timeout or read error cuts it, the part received is kept in an
 * allocation so any later receive completes it; if that allocation fails,
 * MPCONN_ENOMEM is returned and becomes sticky (the stream is lost).
 *
 * Ownership: @buf is the caller's.
 * Return: 0, MPCONN_ETOOSHORT, MPCONN_EINVAL (@offset > @size), or as
 * mpconn_recv_bytes().
 */
MPCONN_EXPORT int mpconn_recv_bytes_into(mpconn *c, void *buf, size_t size,
                                         size_t offset, size_t *len,
                                         int timeout_ms);

/**
 * mpconn_cork() - gather small frames and send them together.
 * @c: a connection that can send.
 * @on: true: from now on, frames up to 16 KiB are collected in the send
 *      buffer, which is written when it holds 64 KiB, at mpconn_flush(),
 *      when the connection is uncorked, or at mpconn_close().  false (the
 *      default, Python's behaviour): every frame is written by the call
 *      that sends it; frames still held are written now.
 *
 * Corking trades latency for throughput: the peer sees nothing until the
 * buffer is written.  An error writing held frames (MPCONN_EPIPE, ...) is
 * returned by the call that writes them, and those frames are lost.
 * Return: 0, or as mpconn_send_bytes().
 */
MPCONN_EXPORT int mpconn_cork(mpconn *c, bool on);

/**
 * mpconn_flush() - write what the send buffer holds.
 * @c: a connection that can send.
 *
 * The frames mpconn_cork() holds back, and, with a send timeout, what the
 * descriptor did not take when they were sent.  Blocking (the default), it
 * returns when all is written; with a send timeout, it writes what it can
 * within the timeout (0: what the descriptor takes now).
 * Return: 0 (also when nothing was held: everything is written);
 * MPCONN_EAGAIN (timeout 0) or MPCONN_ETIMEDOUT with some still held (call
 * again when the descriptor is writable); or as mpconn_send_bytes().
 */
MPCONN_EXPORT int mpconn_flush(mpconn *c);

/** Default cap of what a send leaves in a connection's send buffer: 1 MiB. */
#define MPCONN_DEFAULT_SEND_BUFFER ((size_t)1024 * 1024)

/**
 * mpconn_set_send_timeout() - how long a send may wait, for servers.
 * @c: a connection that can send.
 * @timeout_ms: negative (the default): sends block until their frame is
 *              written, as Python's do.  0: sends never wait.  Positive:
 *              sends wait at most this long.
 *
 * With 0 or a positive timeout, a send either takes the whole frame or
 * nothing: it writes what the descriptor takes now and keeps the rest in
 * the connection's send buffer, as long as what the buffer holds stays
 * under its cap (mpconn_set_send_buffer()) — a frame is always taken when
 * the buffer is empty, however large.  When it would not fit, the send
 * returns MPCONN_EAGAIN (timeout 0) or, having waited for the buffer to
 * drain, MPCONN_ETIMEDOUT, and has taken nothing: no half frame is ever
 * left on the wire.  What the buffer holds goes out with the next send or
 * mpconn_flush(); mpconn_events() says when to poll for POLLOUT.  Bodies
 * that mpconn_send() would write from where they are are copied in this
 * mode.  For a pipe, its write end is made non-blocking (O_NONBLOCK, which
 * every process sharing it sees).
 * Return: 0, MPCONN_EREADONLY, MPCONN_ECLOSED, MPCONN_EINVAL, -errno.
 */
MPCONN_EXPORT int mpconn_set_send_timeout(mpconn *c, int timeout_ms);

/**
 * mpconn_set_send_buffer() - cap what a send leaves in the send buffer.
 * @c: the connection.
 * @bytes: the cap; default MPCONN_DEFAULT_SEND_BUFFER.  Only sends with a
 *         send timeout keep bytes there (see mpconn_set_send_timeout()).
 * Return: 0, MPCONN_EINVAL or MPCONN_ECLOSED.
 */
MPCONN_EXPORT int mpconn_set_send_buffer(mpconn *c, size_t bytes);

/**
 * mpconn_events() - what an event loop should wait for on a connection.
 * @c: the connection.
 *
 * POLLIN while it can receive (not closed, not shut down for reading, no
 * end of file or sticky error reported yet), POLLOUT while its send buffer
 * holds bytes the descriptor did not take (then call mpconn_flush() once
 * it is writable).  POLLIN concerns mpconn_fileno(c), POLLOUT
 * mpconn_send_fileno(c) — the same descriptor but for a connection made
 * from two.  A receive with timeout 0 after POLLIN never blocks, and
 * mpconn_poll(c, 0) says whether a whole message is there (bytes arrive in
 * parts: readable is not yet a message).
 * Return: POLLIN | POLLOUT bits; 0 for NULL or a closed connection.
 */
MPCONN_EXPORT int mpconn_events(const mpconn *c);

/** mpconn_send_fileno() - the sending descriptor, or MPCONN_ECLOSED,
 *  MPCONN_EREADONLY, MPCONN_EINVAL. */
MPCONN_EXPORT int mpconn_send_fileno(const mpconn *c);

/** For mpconn_shutdown(): stop sending (a half-close). */
#define MPCONN_SHUT_WR 1
/** For mpconn_shutdown(): stop receiving (sockets only). */
#define MPCONN_SHUT_RD 2

/**
 * mpconn_shutdown() - half-close a connection.
 * @c: the connection.
 * @how: MPCONN_SHUT_WR, MPCONN_SHUT_RD, or both.
 *
 * MPCONN_SHUT_WR: what the send buffer holds is written first (as
 * mpconn_flush() would, within the send timeout), then the sending side is
 * shut down: the peer receives every message sent, then MPCONN_EOF (Python:
 * EOFError), and can still send; this side can still receive.  Later sends
 * return MPCONN_EPIPE.  On a pipe's write end the descriptor is closed.
 * MPCONN_SHUT_RD (sockets only): receiving is over; a thread blocked in a
 * receive on @c (in another thread: a connection may have one receiving
 * and one sending thread) wakes up and gets MPCONN_EOF, and so does every
 * later receive.  This, not mpconn_close() from another thread, is how to
 * wake a blocked receiver: closing a connection another thread is using
 * frees memory under it.
 * Return: 0; MPCONN_EAGAIN or MPCONN_ETIMEDOUT (the send buffer could not
 * be written yet: nothing is shut down; call again when writable);
 * MPCONN_EINVAL (@how is 0 or has other bits, or MPCONN_SHUT_RD on a
 * pipe); MPCONN_ECLOSED; the codes of mpconn_flush(); -errno.
 */
MPCONN_EXPORT int mpconn_shutdown(mpconn *c, int how);

/** mpconn_closed() - whether @c is closed (Python's closed): true for NULL
 *  and after mpconn_close(). */
MPCONN_EXPORT bool mpconn_closed(const mpconn *c);

/* ------------------------------------------------------------------------ */
/* Descriptors and connections                                              */
/* ------------------------------------------------------------------------ */

/*
 * Over a connection on a Unix socket (mpconn_pipe(..., true), a Unix path
 * or abstract listener or client, a wrapped Unix socket), open descriptors
 * travel to the other process as multiprocessing.reduction's send_handle()
 * and recv_handle() send them on Linux: one byte, the count of descriptors
 * mod 256, carrying them (SCM_RIGHTS), between frames.  A Python process
 * and a C process pass them both ways, interleaved with frames.
 *
 * Every read of such a connection takes the descriptors that come with its
 * bytes and keeps them with the byte they came with, so mpconn_recv_fd()
 * returns the descriptor that came with its byte however the reads were
 * cut; a receive of a frame that meets that byte first returns
 * MPCONN_EFDPENDING and takes nothing.  Descriptors that come anywhere
 * else — with a frame's bytes, more than their byte counts, more than the
 * kernel passed (MSG_CTRUNC), more than 8 waiting at once — are closed,
 * and the receive that meets them returns MPCONN_EBADFDS; none is leaked.
 * One case cannot be told apart: descriptors sent with a frame, read by a
 * read whose room ended on the frame's first byte, look like a
 * descriptor's byte; when that byte does not count them, the connection
 * fails for good (MPCONN_EBADFDS from every receive) rather than lose its
 * place in the stream.
 */

/**
 * mpconn_send_fd() - hand an open descriptor to the peer.
 * @c: a connection over a Unix socket that can send.
 * @fd: any open descriptor; the peer gets a duplicate of it.
 *
 * Frames sent before go first (held ones are flushed).  With a send
 * timeout, MPCONN_EAGAIN or MPCONN_ETIMEDOUT when they cannot all go
 * first, and nothing is sent.
 * Ownership: @fd stays the caller's (close it when done).
 * Return: 0; MPCONN_EINVAL (@c is not a Unix socket connection);
 * MPCONN_EBADF (@fd is not open); MPCONN_EPIPE; the codes of
 * mpconn_send_bytes().
 */
MPCONN_EXPORT int mpconn_send_fd(mpconn *c, int fd);

/**
 * mpconn_recv_fd() - take the descriptor the peer sent next.
 * @c: a connection over a Unix socket that can receive.
 * @fd: receives the descriptor, close-on-exec; -1 on failure.
 * @timeout_ms: how long to wait.
 *
 * Ownership: *fd is new: the caller closes it.
 * Return: 0; MPCONN_ENOFD (a frame comes next: nothing is taken; receive
 * it as usual); MPCONN_EBADFDS (its byte does not count it, or it came
 * with others: all are closed and the byte consumed); MPCONN_EINVAL (not a
 * Unix socket); otherwise as mpconn_recv_bytes().
 */
MPCONN_EXPORT int mpconn_recv_fd(mpconn *c, int *fd, int timeout_ms);

/**
 * mpconn_send_conn() - move a connection to the peer's process.
 * @c: a connection over a Unix socket that can send.
 * @other: the connection to move; allowed when it holds nothing of its
 *         conversation: nothing received and not yet handed out, nothing
 *         held to send, no value being packed.
 *
 * The pre-fork pattern: an acceptor authenticates clients and hands each
 * to a worker.  @other's descriptors go (one for a socket, a pipe end or a
 * connection made from one; two, receiving then sending, for a connection
 * made from two), and on success @other is closed in this process: every
 * later call on it returns MPCONN_ECLOSED; free it with mpconn_free().
 * Settings (limits, timeouts, corking) do not travel.  A connection of one
 * descriptor is received by Python's recv_handle() as that descriptor.
 * Return: 0; MPCONN_EBUSY (@other holds unread or unsent bytes: nothing
 * is sent); MPCONN_EINVAL; MPCONN_ECLOSED; as mpconn_send_fd().
 */
MPCONN_EXPORT int mpconn_send_conn(mpconn *c, mpconn *other);

/**
 * mpconn_recv_conn() - take a connection the peer moved here.
 * @c: a connection over a Unix socket that can receive.
 * @other: receives the connection.
 * @timeout_ms: how long to wait.
 *
 * Ownership: *other is new; free it with mpconn_free().
 * Return: 0; as mpconn_recv_fd(), and MPCONN_EBADFDS for more than two
 * descriptors.
 */
MPCONN_EXPORT int mpconn_recv_conn(mpconn *c, mpconn **other, int timeout_ms);

/* ------------------------------------------------------------------------ */
/* Large messages through shared memory                                     */
/* ------------------------------------------------------------------------ */

/*
 * Between two mpconn ends on a Unix socket that both switched it on
 * (mpconn_set_shm()), a message's bytes can live in a sealed memfd that
 * travels with a small frame, instead of going through the socket: no
 * copy through the kernel, and the receiver maps the bytes instead of
 * allocating them.  Python cannot read such messages: never switch it on
 * toward a Python peer.  docs/guide.md, "Large messages", says when it
 * pays and what it costs.
 *
 * The receiver checks the memfd before it maps it: a memfd (it has
 * seals), sealed against writing, shrinking and growing (so reading the
 * mapping can never fault), of exactly the announced size, within the
 * receive limit; anything else is refused with MPCONN_EBADSHM, consumed,
 * and nothing is mapped.
 */

/** A writable shared buffer, filled and then sent; opaque. */
typedef struct mpconn_shm mpconn_shm;

/**
 * mpconn_set_shm() - switch shared-memory messages on or off.
 * @c: a connection over a Unix socket.
 * @threshold: 0 (the default): off; shared-memory messages that arrive are
 *             refused (MPCONN_EBADFDS).  Otherwise on: messages of
 *             @threshold bytes or more sent with mpconn_send(),
 *             mpconn_sendf() or mpconn_send_bytes() go through shared
 *             memory by themselves (one copy, into the memfd), and those
 *             that arrive are taken.  Both ends must switch it on.
 * Return: 0; MPCONN_EINVAL (not a Unix socket); MPCONN_ECLOSED.
 */
MPCONN_EXPORT int mpconn_set_shm(mpconn *c, size_t threshold);

/**
 * mpconn_shm_new() - a shared buffer to fill and send without a copy.
 * @s: receives the buffer.
 * @size: its size in bytes: the most it can carry.
 *
 * Fill mpconn_shm_data(), or pack a value into it with
 * mpconn_shm_packer(), then mpconn_shm_send().  Memory is taken as the
 * buffer is written.
 * Ownership: *s is new: mpconn_shm_send() or mpconn_shm_free() takes it.
 * Return: 0, MPCONN_ENOMEM, -errno (memfd_create() or mmap()).
 */
MPCONN_EXPORT int mpconn_shm_new(mpconn_shm **s, size_t size);

/** mpconn_shm_data() - the buffer's bytes (borrowed until it is sent or
 *  freed); NULL for NULL or a buffer of size 0. */
MPCONN_EXPORT void *mpconn_shm_data(mpconn_shm *s);

/** mpconn_shm_size() - the buffer's size; 0 for NULL. */
MPCONN_EXPORT size_t mpconn_shm_size(const mpconn_shm *s);

/**
 * mpconn_shm_packer() - a msgpack-c packer writing into the buffer.
 * @s: the buffer.
 * @pk: receives the packer: packs from the start of the buffer, and fails
 *      (msgpack-c's calls return -1) once a value would pass its end.
 * Ownership: *pk is borrowed until @s is sent or freed.
 * Return: 0 or MPCONN_EINVAL.
 */
MPCONN_EXPORT int mpconn_shm_packer(mpconn_shm *s, msgpack_packer **pk);

/**
 * mpconn_shm_packed() - how much the packer wrote.
 * @s: the buffer.
 * @len: receives the byte count, to send.
 * Return: 0; MPCONN_ENOMEM when a value did not fit (pack into a larger
 * buffer); MPCONN_EINVAL.
 */
MPCONN_EXPORT int mpconn_shm_packed(const mpconn_shm *s, size_t *len);

/**
 * mpconn_shm_send() - send a buffer's first @len bytes as one message.
 * @c: a connection that can send, with mpconn_set_shm() switched on.
 * @s: the buffer, filled.
 * @len: how many of its bytes are the message.
 *
 * The buffer is unmapped here, its size set to @len, and sealed against
 * writing, shrinking and growing; the library copies no byte.  Frames sent
 * before go first.  The peer receives it as any message: mpconn_recv()
 * decodes the value in place in the shared memory, mpconn_recv_raw()
 * hands out the bytes in place, mpconn_recv_bytes() copies them.
 * Ownership: steals @s, also on failure.
 * Return: 0; MPCONN_EINVAL (@len over the size, shared memory not on, not
 * a Unix socket); MPCONN_EBUSY (the kernel refused the write seal because
 * a page of the buffer was still referenced elsewhere after waiting for it
 * about 75 ms: rare, seen once under load; nothing was sent); the codes of
 * mpconn_send_bytes().
 */
MPCONN_EXPORT int mpconn_shm_send(mpconn *c, mpconn_shm *s, size_t len);

/** mpconn_shm_free() - drop a buffer without sending it; NULL is a no-op. */
MPCONN_EXPORT void mpconn_shm_free(mpconn_shm *s);

/**
 * mpconn_recv_raw() - receive one message's bytes, without decoding them.
 * @c: a connection that can receive.
 * @msg: receives the message: mpconn_msg_data() gives its bytes, in the
 *       shared memory for a shared-memory message (nothing is copied),
 *       else in the message's own buffer; mpconn_msg_value() returns NULL.
 * @timeout_ms: how long to wait.
 *
 * Ownership: *msg is new; free it with mpconn_msg_free() (which unmaps
 * shared memory).
 * Return: as mpconn_recv_bytes(); MPCONN_EBADSHM.
 */
MPCONN_EXPORT int mpconn_recv_raw(mpconn *c, mpconn_msg **msg, int timeout_ms);

/* ------------------------------------------------------------------------ */
/* Child programs                                                           */
/* ------------------------------------------------------------------------ */

/*
 * Python's Process(...).start() / join() / exitcode / kill() for a child
 * that runs another program: mpconn_spawn() starts it with one end of a
 * connection, named in its environment as MPCONN_FD (which
 * mpconn_from_string() in C, or inherited_connection() of the Python
 * module mpconn, wraps), and keeps the other end.
 *
 * Descriptors: the child gets its end as descriptor 3 ("3" in MPCONN_FD;
 * "3,4", "3,-1" or "-1,3" for a connection of two descriptors or of one
 * direction), its standard input, output and error from this process, and
 * no other descriptor: all others above 2 are closed in the child, as
 * Python's close_fds=True does (MPCONN_SPAWN_KEEP_FDS: only close-on-exec
 * ones).  Nothing changes in this process's descriptors but the child's
 * end, which is closed here.
 *
 * Signals: no handler is installed or changed, SIGCHLD's neither, and no
 * signal is blocked in this process.  The child starts with an empty
 * signal mask and SIGPIPE and SIGXFSZ at their defaults.  Waiting needs
 * the child not to be reaped by anybody else: a SIGCHLD handler that calls
 * waitpid(-1, ...), or SIGCHLD ignored (SIG_IGN, which makes the kernel
 * reap children), takes its exit status away (mpconn_process_wait()
 * returns -ECHILD).
 *
 * Threads: mpconn_spawn() may be called from any thread, also while other
 * threads spawn or fork: the child is started with posix_spawn(), and no
 * descriptor is ever made inheritable in this process.  One process
 * handle is used by one thread at a time, except mpconn_process_kill(),
 * which any thread may call while another waits.
 */

/** A child program started by mpconn_spawn(); opaque. */
typedef struct mpconn_process mpconn_process;

/** Spawn flag: leave descriptors that are not close-on-exec open in the
 * child (the default closes every descriptor above its end's). */
#define MPCONN_SPAWN_KEEP_FDS 0x1u

/**
 * struct mpconn_spawn_options - how mpconn_spawn() starts a child.
 * @path: the program to run; NULL means argv[0].  Without a '/', it is
 *        looked up in this process's PATH, as execvp() does.
 * @envp: the child's environment, NULL-terminated; NULL means this
 *        process's (environ).  Any entry for @fd_env is replaced.
 * @fd_env: the name of the variable that names the child's end; NULL
 *        means "MPCONN_FD".
 * @conn: a connection to hand over instead of a new pair, or NULL.  The
 *        call steals it: it is closed in this process once the child has
 *        it, and also when the call fails.  Frames corked on it are sent
 *        first; bytes this process already received on it stay here.
 * @flags: 0 or MPCONN_SPAWN_KEEP_FDS.
 *
 * Allocated by the caller; all zero (or NULL options) means the defaults.
 */
typedef struct mpconn_spawn_options {
  const char *path;
  char *const *envp;
  const char *fd_env;
  mpconn *conn;
  unsigned flags;
} mpconn_spawn_options;

/**
 * mpconn_spawn() - start a program with one end of a connection.
 * @p: receives the child's handle.
 * @c: receives this process's end: a duplex connection, whose other end
 *     the child has (NULL when @o gives a connection to hand over).
 * @argv: the child's arguments, NULL-terminated; argv[0] is its name.
 * @o: options, or NULL for the defaults.
 *
 * Returns once the child has been started and has exec'd the program: a
 * program that cannot be run is reported here, not by the child's exit.
 *
 * Ownership: *p and *c are new: free them with mpconn_process_free() and
 * mpconn_free().  @argv and @o's strings are borrowed for the call; @o's
 * @conn is stolen.
 * Return: 0; -ENOENT, -EACCES, -ENOEXEC and the other errors of exec for
 * the program; MPCONN_EINVAL (NULL @p or @argv, an empty @argv, @c NULL
 * without @o->conn, unknown flags, an @fd_env that is empty or holds
 * '='); MPCONN_ECLOSED (@o->conn is closed); MPCONN_ENOMEM; -errno.  On
 * failure *p and *c are NULL and no child is left.
 */
MPCONN_EXPORT int mpconn_spawn(mpconn_process **p, mpconn **c,
                               char *const argv[],
                               const mpconn_spawn_options *o);

/**
 * mpconn_process_pid() - the child's process id.
 * @p: the child.
 *
 * Ownership: @p is borrowed for the call.
 * Return: the pid (still the child's while @p has not been waited for
 * with success), or MPCONN_EINVAL for NULL.
 */
MPCONN_EXPORT pid_t mpconn_process_pid(const mpconn_process *p);

/**
 * mpconn_process_wait() - wait for the child to end, like join(timeout).
 * @p: the child.
 * @exitcode: receives Python's exitcode: the exit status (0 to 255), or
 *            minus the number of the signal that killed it; or NULL.
 * @timeout_ms: how long to wait: negative for ever, 0 not at all.
 *
 * The child is reaped: no zombie is left.  Once it has been, every call
 * returns 0 and the same exit code at once.  EINTR is retried.
 *
 * Ownership: @p is borrowed for the call; @exitcode is the caller's.
 * Return: 0; MPCONN_ETIMEDOUT (still running); -ECHILD (somebody else
 * reaped it; see above); MPCONN_EINVAL; -errno.
 */
MPCONN_EXPORT int mpconn_process_wait(mpconn_process *p, int *exitcode,
                                      int timeout_ms);

/**
 * mpconn_process_kill() - send a signal to the child, like kill().
 * @p: the child.
 * @sig: the signal: SIGTERM for Python's terminate(), SIGKILL for kill().
 *
 * A child that has already ended, reaped or not, is not an error.  Where
 * the kernel has pidfds the signal never reaches another process that
 * reused the pid.
 *
 * Ownership: @p is borrowed for the call.
 * Return: 0, MPCONN_EINVAL, or -errno (-EINVAL for a bad signal).
 */
MPCONN_EXPORT int mpconn_process_kill(mpconn_process *p, int sig);

/**
 * mpconn_process_free() - release a child's handle; NULL is a no-op.
 * @p: the child.
 *
 * A child that has not been waited for is never left a zombie: if it has
 * ended it is reaped; if it is still running it is killed with SIGKILL
 * and reaped, which waits for it to die.  To let a child finish its work,
 * wait for it first (closing the connection first tells a child that
 * reads it to stop).
 *
 * Ownership: @p is invalid afterwards.
 */
MPCONN_EXPORT void mpconn_process_free(mpconn_process *p);

/* ------------------------------------------------------------------------ */
/* Waiting                                                                  */
/* ------------------------------------------------------------------------ */

/**
 * mpconn_poll() - wait until a receive would not block.
 * @c: a connection that can receive.
 * @timeout_ms: how long to wait.
 *
 * Ready means a whole message is buffered, or a receive would return an
 * error at once (EOF, truncation, a bad frame, or a read error such as
 * ECONNRESET met while polling, which the next receive returns).  Bytes
 * that arrive while polling are read into the connection's buffer; none is
 * lost.
 * Return: 1 ready, 0 timed out, or a negative code (MPCONN_EWRITEONLY,
 * MPCONN_ECLOSED, -errno).
 */
MPCONN_EXPORT int mpconn_poll(mpconn *c, int timeout_ms);

/**
 * mpconn_wait() - wait until any of several connections is ready.
 * @conns: the connections (Python's multiprocessing.connection.wait).
 * @n: how many.
 * @timeout_ms: how long to wait.
 * @ready: receives the ready connections, in the order of @conns; room for
 *         @n entries.
 *
 * Level-triggered: a connection with a buffered message or a pending error
 * is reported on every call until it is received from.
 *
 * Ownership: @conns and @ready are the caller's; the connections are
 * borrowed for the call.
 * Return: the number of ready connections (0 on timeout), or a negative
 * code: MPCONN_EINVAL (a NULL entry), MPCONN_ECLOSED or MPCONN_EWRITEONLY
 * for an entry that cannot receive, -errno.
 */
MPCONN_EXPORT int mpconn_wait(mpconn *const *conns, size_t n, int timeout_ms,
                              mpconn **ready);

/** What an entry of mpconn_wait_any() is. */
enum mpconn_wait_kind {
  MPCONN_WAIT_CONN = 1, /* a connection */
  MPCONN_WAIT_LISTENER, /* a listener */
  MPCONN_WAIT_FD,       /* any other descriptor */
};

/**
 * struct mpconn_wait_item - one thing mpconn_wait_any() waits on.
 * @kind: an enum mpconn_wait_kind.
 * @conn: for MPCONN_WAIT_CONN.
 * @listener: for MPCONN_WAIT_LISTENER.
 * @fd: for MPCONN_WAIT_FD.
 * @events: what to wait for, poll()'s bits.  A connection: POLLIN, a
 *          receive would return at once (a whole message, or an error or
 *          end of file, as mpconn_wait()); POLLOUT, its sending descriptor
 *          is writable (mpconn_flush() makes progress).  A listener:
 *          POLLIN, mpconn_listener_accept() has work to do.  A descriptor:
 *          anything poll() takes.
 * @revents: set by the call: which of @events hold (for a descriptor, also
 *           POLLERR, POLLHUP, POLLNVAL as poll() reports them).
 *
 * Allocated by the caller.
 */
typedef struct mpconn_wait_item {
  int kind;
  mpconn *conn;
  mpconn_listener *listener;
  int fd;
  short events;
  short revents;
} mpconn_wait_item;

/**
 * mpconn_wait_any() - wait on connections, listeners and descriptors.
 * @items: what to wait on.
 * @n: how many.
 * @timeout_ms: how long to wait.
 *
 * Level-triggered and buffer-aware as mpconn_wait(): a connection with a
 * whole message already buffered is ready without a system call, bytes
 * read while waiting stay in the connection's buffer, and a connection
 * whose descriptor is readable but holds only part of a message is not
 * ready.
 * Ownership: @items and what they point to are borrowed for the call.
 * Return: how many items have revents set (0 on timeout); MPCONN_EINVAL
 * (an unknown kind, a NULL entry, @n over INT32_MAX); MPCONN_ECLOSED or
 * MPCONN_EWRITEONLY (a connection asked for POLLIN that cannot receive);
 * MPCONN_ENOMEM; -errno.
 */
MPCONN_EXPORT int mpconn_wait_any(mpconn_wait_item *items, size_t n,
                                  int timeout_ms);

/* ------------------------------------------------------------------------ */
/* Values                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * A frame carries one msgpack object, as Python's send(obj)/recv() carry one
 * pickled object.  Values are msgpack-c's msgpack_object.  A Python set or
 * frozenset travels as ext type MPCONN_EXT_SET whose payload is one msgpack
 * array of the members; a tuple travels as an array.
 */

/** The ext type code of a set: 83, ASCII 'S'. */
#define MPCONN_EXT_SET 83
/** Deepest nesting of arrays, maps and sets a received value may have. */
#define MPCONN_MAX_DEPTH 32

/* mpconn_msg, a received value, is declared with the connections. */

/**
 * mpconn_send() - send one value as one frame.
 * @c: a connection that can send.
 * @v: the value; msgpack-c packs it (msgpack_pack_object()).
 *
 * str, bin and ext bodies of 16 KiB or more are not copied: the frame is
 * written from the send buffer and from where they are (the first 8 such
 * bodies; more are copied), so a value holding one is written before the
 * call returns even when the connection is corked, after the frames held
 * before it.
 *
 * Ownership: @v is borrowed for the call.
 * Return: 0, or as mpconn_send_bytes(); MPCONN_ENOMEM.
 */
MPCONN_EXPORT int mpconn_send(mpconn *c, const msgpack_object *v);

/**
 * mpconn_pack_begin() - start packing a value straight into the send buffer.
 * @c: a connection that can send.
 * @pk: receives a packer; call msgpack-c's msgpack_pack_*() on it, then
 *      mpconn_pack_end() or mpconn_pack_abort().
 *
 * Nothing is copied between the packer and the wire: the length header is
 * filled in by mpconn_pack_end().  Only one value may be under way per
 * connection; sending anything else before the end is MPCONN_EINVAL.
 *
 * Ownership: *pk is borrowed until mpconn_pack_end()/mpconn_pack_abort().
 * Return: 0, MPCONN_EINVAL (a value is already under way), MPCONN_EREADONLY,
 * MPCONN_ECLOSED.
 */
MPCONN_EXPORT int mpconn_pack_begin(mpconn *c, msgpack_packer **pk);

/**
 * mpconn_pack_end() - send the value packed since mpconn_pack_begin().
 * @c: the connection.
 *
 * The bytes are sent as they were packed; pack exactly one value.
 * Return: 0, MPCONN_EINVAL (no value under way), MPCONN_ENOMEM (packing
 * ran out of memory; nothing is sent), or as mpconn_send_bytes().
 */
MPCONN_EXPORT int mpconn_pack_end(mpconn *c);

/** mpconn_pack_abort() - drop the value under way; nothing is sent. */
MPCONN_EXPORT void mpconn_pack_abort(mpconn *c);

/**
 * mpconn_pack_set() - pack a set: ext MPCONN_EXT_SET holding one array.
 * @pk: any msgpack-c packer.
 * @members: the members.
 * @n: how many.
 *
 * Ownership: @members is borrowed for the call.
 * Return: 0, MPCONN_ENOMEM, or MPCONN_EINVAL when the packer fails.
 */
MPCONN_EXPORT int mpconn_pack_set(msgpack_packer *pk,
                                  const msgpack_object *members, size_t n);

/** A callback that packs values into @pk: 0 or a negative code. */
typedef int (*mpconn_pack_fn)(msgpack_packer *pk, void *arg);

/**
 * mpconn_pack_set_with() - pack a set whose members a callback packs.
 * @pk: any msgpack-c packer.
 * @n: how many members.
 * @pack_members: called once with a packer of its own: packs exactly @n
 *                values (the array header is already there).  The ext
 *                header needs the members' length, so they are packed into
 *                a buffer first, then copied to @pk.
 * @arg: passed to @pack_members.
 *
 * Return: 0; what @pack_members returned when it failed; MPCONN_ENOMEM
 * (the members' buffer could not grow); MPCONN_ETOOBIG (the members take
 * over 4 GiB); MPCONN_EINVAL (a NULL argument, @n over 2^32 - 1, or @pk
 * failed).
 */
MPCONN_EXPORT int mpconn_pack_set_with(msgpack_packer *pk, size_t n,
                                       mpconn_pack_fn pack_members, void *arg);

/**
 * mpconn_recv() - receive one value.
 * @c: a connection that can receive.
 * @msg: receives the message.
 * @timeout_ms: how long to wait.
 *
 * The frame is checked and decoded in one pass into the tree
 * msgpack_unpack() would build: one object and no trailing bytes, every
 * count and length within the bytes left, nesting at most
 * MPCONN_MAX_DEPTH, every set payload exactly one array, and the whole
 * tree within the decode limit (mpconn_set_max_decoded()).  A frame that
 * fails is consumed and reported; the connection stays usable.
 * Decoding a frame of N bytes takes at most 24 * N + 16 KiB of memory
 * besides the frame, and no more than the decode limit plus 16 KiB.
 *
 * Ownership: *msg is new; free it with mpconn_msg_free().
 * Return: 0; MPCONN_EBADVALUE, MPCONN_ETOODEEP, MPCONN_EBADSET for a frame
 * that is not one well-formed value; MPCONN_EDECODELIMIT for one whose
 * tree passes the decode limit; otherwise as mpconn_recv_bytes().
 */
MPCONN_EXPORT int mpconn_recv(mpconn *c, mpconn_msg **msg, int timeout_ms);

/**
 * mpconn_msg_value() - the value a message holds.
 * @m: the message.
 *
 * Ownership: borrowed.  The object, everything it points to, and every
 * str, bin and ext body (which point into the received frame; they are not
 * NUL-terminated) stay valid until mpconn_msg_free(@m).
 */
MPCONN_EXPORT const msgpack_object *mpconn_msg_value(const mpconn_msg *m);

/**
 * mpconn_msg_data() - the raw payload of a message (the msgpack bytes).
 * @m: the message.
 * @len: receives the length.
 *
 * Ownership: borrowed, valid until mpconn_msg_free(@m).
 */
MPCONN_EXPORT const void *mpconn_msg_data(const mpconn_msg *m, size_t *len);

/**
 * mpconn_msg_frame_size() - the bytes a message took on the wire.
 * @m: the message.
 *
 * The payload's length plus its header's: 4 bytes, or 12 for the long
 * form, which a peer may use for any length.  The sum over the messages
 * received is the offset of the next frame in the stream.
 * Return: the size; 0 for NULL.
 */
MPCONN_EXPORT size_t mpconn_msg_frame_size(const mpconn_msg *m);

/**
 * mpconn_msg_set_members() - the members of a received set.
 * @m: the message holding @set.
 * @set: an ext object of type MPCONN_EXT_SET inside @m's value.
 * @members: receives the members as an array.
 *
 * Ownership: *members is borrowed, valid until mpconn_msg_free(@m).
 * Return: 0, MPCONN_EINVAL when @set is not a set, MPCONN_EBADSET when its
 * payload is not exactly one array, MPCONN_ENOMEM.
 */
MPCONN_EXPORT int mpconn_msg_set_members(mpconn_msg *m,
                                         const msgpack_object *set,
                                         msgpack_object_array *members);

/**
 * mpconn_msg_free() - release a message; NULL is a no-op.
 * @m: the message.
 *
 * Any thread may free a message.  A small message's memory (at most 8 KiB
 * of objects and 8 KiB of frame) is kept, one per thread, for the next
 * receive in that thread, and released when the thread exits; the one of
 * the thread that calls exit() (the main thread, when main() returns) is
 * released at process exit, by a destructor of the library.  Only threads
 * still running at exit keep theirs.
 */
MPCONN_EXPORT void mpconn_msg_free(mpconn_msg *m);

/**
 * mpconn_set_unpack() - decode the members of any set object.
 * @set: an ext object of type MPCONN_EXT_SET.
 * @zone: a msgpack-c zone that receives the member objects.
 * @members: receives the members.
 *
 * Ownership: the member array lives in @zone; str, bin and ext bodies
 * point into @set's payload.  Both must outlive their use.
 * Return: as mpconn_msg_set_members(); also MPCONN_ETOODEEP when the
 * members nest deeper than MPCONN_MAX_DEPTH (never for a received set).
 */
MPCONN_EXPORT int mpconn_set_unpack(const msgpack_object *set,
                                    msgpack_zone *zone,
                                    msgpack_object_array *members);

/* ------------------------------------------------------------------------ */
/* Format strings                                                           */
/* ------------------------------------------------------------------------ */

/*
 * Build and take apart values the way Py_BuildValue and jansson's
 * json_pack/json_unpack do.  docs/values.md has the full table:
 *
 *   n nil   b bool (int)   i int   I int64_t   U uint64_t   f double
 *   s string   s# string + size_t length   y# bytes + size_t length
 *   O const msgpack_object *   [..] array   {k:v ..} map   <..> set
 *   ? after a map key (unpack): optional   * (unpack): ignore the rest
 *   [T ...] and <T ...> (unpack): any number of items, each T, taken one
 *   at a time through an mpconn_iter
 *
 * Unpacking a set with fixed items ("<s i>") matches each item to a member
 * of its own whatever the order the members came in (Python sends a set's
 * members in hash order).
 *
 * Commas, colons and white space separate items and are otherwise ignored.
 */

/**
 * Details of a failure; caller-allocated, every call that takes one also
 * accepts NULL.  A call given one always fills it: on failure with the
 * code it returns and a message, on success with code 0, position 0 and
 * an empty path and text.
 */
typedef struct mpconn_error {
  int code;        /* the code the call returned */
  size_t position; /* byte offset in the format string */
  char path[96];   /* where in the value, e.g. "$[1].spam" */
  char text[160];  /* the full message, NUL-terminated */
} mpconn_error;

/**
 * The items of an array or set matched by "[T ...]" or "<T ...>", taken
 * one at a time with mpconn_iter_next().  Caller-allocated (on the stack,
 * say); mpconn_unpackf() fills it; its fields are private.  It holds no
 * resource: drop it at any time, nothing to free.
 *
 * It borrows the value the items are in and the format string T is part
 * of: both must stay valid while it is used.
 */
typedef struct mpconn_iter {
  const char *fmt;             /* the format T is in */
  size_t item_at, item_end;    /* T is fmt[item_at, item_end) */
  const msgpack_object *items; /* an array's items */
  const char *set_data;        /* a set's payload */
  size_t set_size, set_off;    /* its size; the next member's offset */
  uint32_t count, next;        /* items in all; items taken */
  char kind;                   /* '[' or '<' */
  char path[96];               /* the container's path, for errors */
} mpconn_iter;

/**
 * mpconn_packf() - pack a value described by a format string.
 * @pk: any msgpack-c packer.
 * @err: receives details on failure, cleared on success; or NULL.
 * @fmt: the format.
 *
 * The format is checked before anything is packed, so MPCONN_EFORMAT leaves
 * @pk untouched; a NULL string argument is found while packing.
 * Return: 0, MPCONN_EFORMAT, MPCONN_EINVAL (a NULL string), MPCONN_ENOMEM.
 */
MPCONN_EXPORT int mpconn_packf(msgpack_packer *pk, mpconn_error *err,
                               const char *fmt, ...);
MPCONN_EXPORT int mpconn_vpackf(msgpack_packer *pk, mpconn_error *err,
                                const char *fmt, va_list ap);

/**
 * mpconn_sendf() - pack a value from a format and send it as one frame.
 * @c: a connection that can send.
 * @fmt: the format, e.g. "[s, i, s]" or "{s:s, s:i}".
 *
 * Nothing is sent when the format or an argument is bad.
 * Return: 0, as mpconn_packf(), or as mpconn_send_bytes().
 */
MPCONN_EXPORT int mpconn_sendf(mpconn *c, const char *fmt, ...);

/**
 * mpconn_sendf_ex() - mpconn_sendf(), saying what went wrong.
 * @c: a connection that can send.
 * @err: receives the details (see mpconn_error), or NULL.  A bad format or
 *       argument fills it as mpconn_packf() does; a failure to send with
 *       the code and mpconn_strerror()'s text, position 0 and an empty
 *       path; success clears it.
 * @fmt: the format.
 *
 * Ownership: @err is the caller's.
 * Return: as mpconn_sendf().
 */
MPCONN_EXPORT int mpconn_sendf_ex(mpconn *c, mpconn_error *err, const char *fmt,
                                  ...);

/**
 * mpconn_vsendf() - mpconn_sendf_ex() with a va_list, for wrappers.
 * @c: a connection that can send.
 * @err: as mpconn_sendf_ex(), or NULL.
 * @fmt: the format.
 * @ap: the arguments; the call reads them through a copy, so @ap is
 *      unchanged (va_end() it as usual).
 *
 * Ownership: @err is the caller's; the arguments are borrowed for the call.
 * Return: as mpconn_sendf().
 */
MPCONN_EXPORT int mpconn_vsendf(mpconn *c, mpconn_error *err, const char *fmt,
                                va_list ap);

/**
 * mpconn_unpackf() - check a value's shape and extract its parts.
 * @v: the value (for example mpconn_msg_value()).
 * @err: receives details on failure, cleared on success; or NULL.
 * @fmt: the format; the arguments are pointers (see docs/values.md).
 *
 * Strings: "s" copies into a caller buffer (char *, size_t size) and
 * NUL-terminates it; "s#" and "y#" give a pointer into the value and its
 * length (const char **, size_t *).  "[T ...]" and "<T ...>" take one
 * mpconn_iter * and check only that the value is an array or a set: T is
 * matched against each item by mpconn_iter_next().  An absent optional
 * key ("s?") leaves its targets as they were (set defaults before the
 * call), except an iterator, which is made empty.
 *
 * Ownership: pointers stored through the arguments borrow from @v.
 * Return: 0, MPCONN_EUNPACK (the value does not match; @err says at which
 * format position and which part of the value), MPCONN_EFORMAT,
 * MPCONN_EINVAL (a NULL pointer argument), MPCONN_EBADSET or
 * MPCONN_ETOODEEP (a set's payload is malformed), MPCONN_ENOMEM.  On
 * failure, targets of items before the failing one may have been written.
 */
MPCONN_EXPORT int mpconn_unpackf(const msgpack_object *v, mpconn_error *err,
                                 const char *fmt, ...);
MPCONN_EXPORT int mpconn_vunpackf(const msgpack_object *v, mpconn_error *err,
                                  const char *fmt, va_list ap);

/**
 * mpconn_iter_count() - how many items an iterator has in all.
 * @it: an iterator filled by mpconn_unpackf(), or NULL (0).
 *
 * Ownership: @it is the caller's.
 * Return: the array's length or the set's member count, taken or not.
 */
MPCONN_EXPORT size_t mpconn_iter_count(const mpconn_iter *it);

/**
 * mpconn_iter_next() - take the next item, matching it against T.
 * @it: an iterator filled by mpconn_unpackf().
 * @err: receives details on failure, cleared otherwise; or NULL.
 * @...: T's arguments, as mpconn_unpackf() takes them.
 *
 * Items come in the order of the array, or of the set's payload.  The
 * error of an item that does not match has its whole path, the
 * container's and the item's: "$.items[7][1]", "$.tags<2>"; its position
 * is T's, in the whole format.  The iterator moves past an item whether
 * it matched or not, so a caller may skip bad items.
 *
 * Ownership: pointers stored borrow from the value, as mpconn_unpackf().
 * Return: 1 (an item was taken), 0 (none left), or a negative code as
 * mpconn_unpackf(); MPCONN_EINVAL for a NULL @it.
 */
MPCONN_EXPORT int mpconn_iter_next(mpconn_iter *it, mpconn_error *err, ...);
/** mpconn_iter_vnext() - mpconn_iter_next() with a va_list. */
MPCONN_EXPORT int mpconn_iter_vnext(mpconn_iter *it, mpconn_error *err,
                                    va_list ap);

/* ------------------------------------------------------------------------ */
/* Listeners and clients                                                    */
/* ------------------------------------------------------------------------ */

/*
 * Python's multiprocessing.connection.Listener and Client: unrelated
 * processes, C or Python, meet at an address, optionally prove to each
 * other that they know a shared key, and get an ordinary connection.
 * docs/listener.md has the details and the security notes.
 *
 * Addresses are strings:
 *   "/run/app/sock", "./sock"  a Unix socket file (any string with a '/')
 *   "@name"                    a Linux abstract Unix socket; a listener
 *                              given "@" alone gets a free name
 *   "127.0.0.1:6000"           TCP over IPv4; "localhost" means 127.0.0.1
 *                              and no other host name is looked up
 *   "[::1]:6000"               TCP over IPv6
 * A listener given port 0 gets a free port; mpconn_listener_address() says
 * which.
 */

/* mpconn_listener, a listening socket, is declared with the connections. */

/** The handshake timeout when the options say 0, in milliseconds. */
#define MPCONN_DEFAULT_HANDSHAKE_TIMEOUT 5000
/** Clients a listener keeps in their handshake at once, by default. */
#define MPCONN_DEFAULT_MAX_PENDING 256
/** A buffer of this many bytes always holds mpconn_listener_address(). */
#define MPCONN_ADDRESS_MAX 112

/**
 * struct mpconn_net_options - how a listener or a client connects.
 * @authkey: the shared key (Python's authkey), or NULL (and @authkey_len
 *           0) for no handshake.  With a key, both sides prove that they
 *           know it (HMAC challenge and response, each way) before the
 *           connection is handed out.  A non-NULL key of length 0 is a
 *           key, as authkey=b'' is for Python 3.13's Listener.
 * @authkey_len: the key's length in bytes.
 * @handshake_timeout_ms: the longest the handshake may take; for a client,
 *           connecting and the handshake together.  0 means
 *           MPCONN_DEFAULT_HANDSHAKE_TIMEOUT; negative, no limit.
 * @same_uid_only: Unix sockets only: refuse a peer that runs under another
 *           user id than this process's effective one.
 * @backlog: listeners: the listen() backlog; 0 means SOMAXCONN.
 * @max_pending: listeners: how many clients may be in their handshake at
 *           once; when one more arrives the oldest is dropped.  0 means
 *           MPCONN_DEFAULT_MAX_PENDING.
 *
 * Allocated by the caller.  All zero means the defaults, so start from
 * {0} and set what matters; every function taking options accepts NULL
 * for all defaults.
 */
typedef struct mpconn_net_options {
  const void *authkey;
  size_t authkey_len;
  int handshake_timeout_ms;
  bool same_uid_only;
  int backlog;
  int max_pending;
} mpconn_net_options;

/**
 * mpconn_listener_new() - bind to an address and listen, like Listener().
 * @l: receives the listener.
 * @address: where to listen (see above).
 * @options: key, timeout and backlog, or NULL for the defaults.
 *
 * A Unix socket file is created with mode 0600 whatever the umask (which
 * is left alone), so only this user and root can connect.  A stale socket
 * file, left by a listener that is gone, is replaced; a live listener's is
 * never taken over, nor is anything that is not a socket.  TCP listeners
 * set SO_REUSEADDR, as Python's do.
 *
 * Ownership: *l is new; release it with mpconn_listener_free().  @address
 * and @options are borrowed for the call (the key is copied).
 * Return: 0; MPCONN_EBADADDR (a malformed address); MPCONN_EINVAL (a NULL
 * argument, a negative backlog, same_uid_only with TCP, a key length
 * without a key);
 * MPCONN_EADDRINUSE; -ENAMETOOLONG (a path or name over 107 bytes);
 * MPCONN_ENOMEM; -errno (-EACCES, -ENOENT, ...).  On failure *l is NULL.
 */
MPCONN_EXPORT int mpconn_listener_new(mpconn_listener **l, const char *address,
                                      const mpconn_net_options *options);

/**
 * mpconn_listener_accept() - take the next client that has authenticated.
 * @l: the listener.
 * @c: receives the connection.
 * @timeout_ms: how long to wait.
 *
 * With a key every client runs the handshake of Python's Listener.accept()
 * (deliver_challenge() then answer_challenge()): the client answers this
 * side's challenge, then this side answers the client's.  The listener
 * keeps every client that has connected and not finished its handshake in
 * progress at once, each with its own deadline (the handshake timeout from
 * its arrival), and this call returns the first that finishes: a silent or
 * slow client never holds up the others.  At most max_pending clients
 * (MPCONN_DEFAULT_MAX_PENDING) are in their handshake at once; when one
 * more arrives, the oldest is dropped.  Clients that stay pending when
 * the call returns carry on at the next call.  Without a key a client is
 * returned as soon as it has connected.
 *
 * A client that fails its handshake (a wrong key, a malformed or oversized
 * message, closing, staying silent past its deadline), or that runs as
 * another user with same_uid_only, is closed and reported as MPCONN_EAUTH;
 * the listener is unaffected, so call again.  Nothing a client sends is
 * delivered before it is authenticated.
 *
 * Out of descriptors (-EMFILE, -ENFILE) with a client waiting, that client
 * is dropped (the listener keeps a spare descriptor for this) and the code
 * returned, so calling again does not spin; with no client waiting the
 * call waits as usual.
 *
 * For an event loop, mpconn_listener_fileno() is readable whenever this
 * call has work to do (a new client, a pending client's bytes, a
 * handshake deadline): call it with timeout 0 then; it never blocks.
 * Several threads may accept on one listener; the calls take turns.
 * Closing or freeing it while one runs needs the caller's own lock.  In a
 * child forked from the process that accepted, the first accept starts
 * afresh: the parent's pending clients stay the parent's.
 *
 * Ownership: *c is new; free it with mpconn_free().
 * Return: 0; MPCONN_ETIMEDOUT (no client finished within @timeout_ms);
 * MPCONN_EAUTH; MPCONN_ECLOSED; MPCONN_EINVAL; MPCONN_ENOMEM; -EMFILE,
 * -ENFILE; -errno.  On failure *c is NULL.
 */
MPCONN_EXPORT int mpconn_listener_accept(mpconn_listener *l, mpconn **c,
                                         int timeout_ms);

/**
 * mpconn_client() - connect to a listener, like Client().
 * @c: receives the connection.
 * @address: the listener's address (see above).
 * @options: key and timeout, or NULL for the defaults; backlog is unused.
 *
 * With a key the handshake follows, as Python's answer_challenge() then
 * deliver_challenge(), so a listener that does not know the key is refused
 * too.  Challenges of Python 3.12+ ("{sha256}..." and the other digests)
 * and of Python 3.11 and older (plain HMAC-MD5) are both answered.  With
 * same_uid_only, a Unix socket listener running as another user is
 * refused.
 *
 * Ownership: *c is new; free it with mpconn_free().  @address and
 * @options are borrowed for the call.
 * Return: 0; MPCONN_EBADADDR; MPCONN_EINVAL (as mpconn_listener_new());
 * MPCONN_ECONNREFUSED (nobody
 * listens there); -ENOENT (no such socket file); MPCONN_EAUTH (the
 * listener refused the key, could not prove it knows it, or sent something
 * that is not part of the handshake; or same_uid_only refused it);
 * MPCONN_ETIMEDOUT; MPCONN_EOF, MPCONN_ETRUNCATED or MPCONN_ECONNRESET
 * (the listener closed during the handshake); -errno.  On failure *c is
 * NULL.
 */
MPCONN_EXPORT int mpconn_client(mpconn **c, const char *address,
                                const mpconn_net_options *options);

/**
 * mpconn_listener_address() - the address a listener is bound to.
 * @l: the listener.
 * @buf: receives the address as mpconn_client() takes it, with the chosen
 *       port for port 0 and the chosen name for "@"; NUL-terminated.
 * @size: size of @buf; MPCONN_ADDRESS_MAX bytes are always enough.
 *
 * Ownership: @buf is the caller's.
 * Return: 0, MPCONN_ECLOSED, or MPCONN_EINVAL (@buf is too small).
 */
MPCONN_EXPORT int mpconn_listener_address(const mpconn_listener *l, char *buf,
                                          size_t size);

/**
 * mpconn_listener_fileno() - the descriptor to wait on.
 * @l: the listener.
 *
 * An epoll instance holding the listening socket, the sockets of the
 * clients in their handshake, and a timer for their deadlines: it is
 * readable whenever mpconn_listener_accept() has something to do, and that
 * call with timeout 0 then never blocks.  Wait on it for readability
 * (poll, epoll, libuv's uv_poll_t); never read it or accept on it
 * directly.
 *
 * Ownership: borrowed; valid until mpconn_listener_close().
 * Return: the descriptor, MPCONN_ECLOSED or MPCONN_EINVAL.
 */
MPCONN_EXPORT int mpconn_listener_fileno(const mpconn_listener *l);

/**
 * mpconn_listener_pending() - how many clients are in their handshake.
 * @l: the listener, or NULL.
 * Return: the count, at most max_pending; 0 for NULL.
 */
MPCONN_EXPORT size_t mpconn_listener_pending(mpconn_listener *l);

/**
 * mpconn_listener_close() - stop listening.
 * @l: the listener, or NULL.
 *
 * Idempotent.  Closes the socket and removes the socket file of a Unix
 * path listener, unless the file has been replaced since or this is a
 * forked child, which leaves it to the process that created it (as Python
 * does).  Connections already accepted are unaffected.  Afterwards
 * mpconn_listener_accept() returns MPCONN_ECLOSED.
 *
 * Return: 0, or the first error close() or unlink() reported.
 */
MPCONN_EXPORT int mpconn_listener_close(mpconn_listener *l);

/**
 * mpconn_listener_free() - close a listener and release its memory.
 * @l: the listener, or NULL (a no-op).
 *
 * Ownership: @l is invalid afterwards; accepted connections stay valid.
 */
MPCONN_EXPORT void mpconn_listener_free(mpconn_listener *l);

/**
 * mpconn_peer_address() - the address at the other end of a socket.
 * @c: a connection over a socket (accepted: Python's last_accepted).
 * @buf: receives the address in the form mpconn_client() takes, "" for a
 *       Unix socket whose peer has no name (clients usually have none);
 *       NUL-terminated.
 * @size: size of @buf; MPCONN_ADDRESS_MAX bytes are always enough.
 * Return: 0; MPCONN_EINVAL (@buf too small, not a socket's connection);
 * MPCONN_ECLOSED; -errno (-ENOTCONN).
 */
MPCONN_EXPORT int mpconn_peer_address(const mpconn *c, char *buf, size_t size);

/**
 * mpconn_deliver_challenge() - challenge the peer to prove the key.
 * @c: any connection (a pipe, a wrapped descriptor, one received from
 *     another process), before anything else is sent or received on it.
 * @key: the shared key; @keylen its length.
 * @timeout_ms: the longest the exchange may take.
 *
 * Python's multiprocessing.connection.deliver_challenge(): sends a
 * challenge in Python 3.12's form ("{sha256}"; Python 3.11 answers it with
 * HMAC-MD5, which is accepted), checks the answer, and sends #WELCOME# or
 * #FAILURE#.  A listener runs this then mpconn_answer_challenge(); a client
 * the other way round.
 * Ownership: @key is borrowed for the call.
 * Return: 0; MPCONN_EAUTH (a wrong answer, or anything that is not a step
 * of the handshake); MPCONN_ETIMEDOUT; MPCONN_EOF, MPCONN_ETRUNCATED or
 * MPCONN_ECONNRESET (the peer left); MPCONN_EINVAL; -errno.
 */
MPCONN_EXPORT int mpconn_deliver_challenge(mpconn *c, const void *key,
                                           size_t keylen, int timeout_ms);

/**
 * mpconn_answer_challenge() - prove the key to the peer.
 * @c: as mpconn_deliver_challenge().
 * @key: the shared key; @keylen its length.
 * @timeout_ms: the longest the exchange may take.
 *
 * Python's answer_challenge(): answers a challenge of either form (3.12+
 * "{digest}" with md5, sha256, sha384, sha3_256 or sha3_384, or 3.11's
 * plain HMAC-MD5) and expects #WELCOME#.
 * Ownership: @key is borrowed for the call.
 * Return: as mpconn_deliver_challenge(); MPCONN_EAUTH also when the peer
 * answers #FAILURE#.
 */
MPCONN_EXPORT int mpconn_answer_challenge(mpconn *c, const void *key,
                                          size_t keylen, int timeout_ms);

/**
 * mpconn_peer_cred() - who is at the other end of a Unix socket.
 * @c: a connection over a Unix socket: accepted, from mpconn_client() or
 *     mpconn_pipe(..., true), or wrapped.
 * @pid: receives the peer's process id, or NULL.
 * @uid: receives its user id, or NULL.
 * @gid: receives its group id, or NULL.
 *
 * The credentials are those the peer had when it connected, listened, or
 * called socketpair() (SO_PEERCRED).
 *
 * Return: 0; -ENOTSOCK (@c's descriptor is not a socket); MPCONN_EINVAL
 * (not a Unix socket, or @c is NULL); MPCONN_ECLOSED.
 */
MPCONN_EXPORT int mpconn_peer_cred(const mpconn *c, pid_t *pid, uid_t *uid,
                                   gid_t *gid);

/* ------------------------------------------------------------------------ */
/* Queues                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * Python's multiprocessing.Queue and JoinableQueue for processes created
 * with fork() and for threads: any number of producers and consumers put
 * and get whole items, first in, first out.  The queue lives in one shared
 * anonymous mapping made by mpconn_queue_new(); children forked afterwards
 * inherit it and use the same handle.  It does not survive exec(), and
 * unrelated processes cannot open it.  docs/queue.md has the design and
 * the guarantees.
 *
 * An item is one frame, as a connection carries it: a value put with
 * mpconn_queue_put() or mpconn_queue_putf() is got by mpconn_queue_get()
 * exactly as mpconn_recv() would receive it, and the bytes API carries raw
 * payloads.
 *
 * A put has finished when it returns: the item is in shared memory, and
 * there is no feeder thread, so a process may exit, or be waited for,
 * right after putting.  A process killed at any instant, even inside a
 * put or a get, never leaves a partial item or a duplicate behind, and the
 * others carry on; only an item that a get had already taken out when its
 * process was killed is lost with it.  Every call may be made from any
 * thread; a handle must not be freed while another thread of the same
 * process uses it.
 *
 * Timeouts as elsewhere: negative waits forever, 0 never waits for an item
 * or for room.  Like Python's Empty and Full, MPCONN_EEMPTY and
 * MPCONN_EFULL are returned both when the call would wait with a timeout
 * of 0 and when a longer timeout expires.  The queue's lock is held only
 * to copy one item in or out; a call with a positive timeout also gives up
 * with those codes if it cannot take the lock in time (its holder was
 * stopped), while timeout 0 and negative timeouts wait for the lock.
 */

/** A queue; opaque. */
typedef struct mpconn_queue mpconn_queue;

/** Default byte capacity of a queue's ring: 64 MiB of address space. */
#define MPCONN_QUEUE_DEFAULT_CAPACITY ((size_t)64 * 1024 * 1024)

/*
 * Flag of mpconn_queue_new_ex(): one ring per producer process instead of
 * one ring under one lock.  Each process puts into its own ring, so
 * producers never wait for each other and a put or get under load makes
 * no system call; consumers take from every ring in turn.  What changes:
 * - order: the items of one process are got in the order it put them;
 *   the items of different processes in no set order (as with Python's
 *   Queue, whose processes each feed the pipe through their own thread);
 * - mpconn_queue_qsize(), _empty() and _full() add up the rings without a
 *   lock: exact when no put or get is under way, otherwise a count that
 *   was true at some instant during the call (Python's are approximate);
 * - capacity is per ring: each of the 16 rings may hold @capacity bytes,
 *   so the queue reserves 16 times the address space (pages still cost
 *   memory only once written, and a ring found empty starts again at its
 *   first page);
 * - a process killed holding its ring's lock is found by the next process
 *   that puts into that ring or closes the queue, not by every caller.
 * Everything else is as documented for queues, SIGKILL included.
 */
#define MPCONN_QUEUE_RINGS 1u

/**
 * mpconn_queue_new() - create a queue, like Queue(maxsize).
 * @q: receives the queue.
 * @maxsize: the most items the queue holds; 0 for no limit but the
 *           default byte capacity, MPCONN_QUEUE_DEFAULT_CAPACITY.
 *
 * Create the queue before fork(): each child inherits it.
 *
 * Ownership: *q is new; every process that has it (the creator and each
 * child forked afterwards) frees its own with mpconn_queue_free().
 * Return: 0, MPCONN_EINVAL, MPCONN_ENOMEM or -errno.  On failure *q is
 * NULL.
 */
MPCONN_EXPORT int mpconn_queue_new(mpconn_queue **q, size_t maxsize);

/**
 * mpconn_queue_new_ex() - create a queue with a given byte capacity.
 * @q: receives the queue.
 * @maxsize: as mpconn_queue_new().
 * @capacity: bytes of shared memory for the items, rounded up to the page
 *            size; 0 for MPCONN_QUEUE_DEFAULT_CAPACITY.  It is reserved as
 *            address space: pages cost memory only once items have been
 *            written to them.  Each item takes its payload plus a 4-byte
 *            header (12 bytes over 2 GiB); one larger than the whole
 *            capacity is refused with MPCONN_ETOOBIG.
 * @flags: 0, or MPCONN_QUEUE_RINGS.
 *
 * Ownership: as mpconn_queue_new().
 * Return: 0, MPCONN_EINVAL (an unknown flag), MPCONN_ENOMEM or -errno.
 */
MPCONN_EXPORT int mpconn_queue_new_ex(mpconn_queue **q, size_t maxsize,
                                      size_t capacity, unsigned flags);

/**
 * mpconn_queue_free() - release this process's handle.
 * @q: the queue, or NULL (a no-op).
 *
 * Unmaps the queue in this process only; other processes keep using it,
 * and the memory goes away with the last of them.  Freeing does not close
 * the queue.
 *
 * Ownership: @q is invalid afterwards; messages got from it stay valid.
 */
MPCONN_EXPORT void mpconn_queue_free(mpconn_queue *q);

/**
 * mpconn_queue_put() - put one value, like put(obj, timeout=...).
 * @q: the queue.
 * @v: the value; msgpack-c packs it (msgpack_pack_object()).
 * @timeout_ms: how long to wait while the queue is full: while it holds
 *              maxsize items, or while its ring lacks room for this item.
 *
 * Ownership: @v is borrowed for the call; the queue keeps a copy.
 * Return: 0; MPCONN_EFULL (no room within the timeout); MPCONN_ECLOSED
 * (the queue is closed, also when that happens while waiting);
 * MPCONN_ETOOBIG (the item is larger than the queue's capacity);
 * MPCONN_EINVAL; MPCONN_ENOMEM.
 */
MPCONN_EXPORT int mpconn_queue_put(mpconn_queue *q, const msgpack_object *v,
                                   int timeout_ms);

/**
 * mpconn_queue_putf() - pack a value from a format and put it.
 * @q: the queue.
 * @timeout_ms: as mpconn_queue_put().
 * @fmt: the format, as mpconn_packf().
 *
 * Nothing is put when the format or an argument is bad.
 * Return: 0, as mpconn_packf(), or as mpconn_queue_put().
 */
MPCONN_EXPORT int mpconn_queue_putf(mpconn_queue *q, int timeout_ms,
                                    const char *fmt, ...);

/**
 * mpconn_queue_vputf() - mpconn_queue_putf() with a va_list and an error.
 * @q: the queue.
 * @timeout_ms: as mpconn_queue_put().
 * @err: receives details, as mpconn_sendf_ex() fills it; or NULL.
 * @fmt: the format, as mpconn_packf().
 * @ap: the arguments (read through a copy).
 *
 * Ownership: @err is the caller's.
 * Return: as mpconn_queue_putf().
 */
MPCONN_EXPORT int mpconn_queue_vputf(mpconn_queue *q, int timeout_ms,
                                     mpconn_error *err, const char *fmt,
                                     va_list ap);

/**
 * mpconn_queue_put_bytes() - put @len raw bytes as one item.
 * @q: the queue.
 * @data: the payload (may be NULL when @len is 0).
 * @len: payload length.
 * @timeout_ms: as mpconn_queue_put().
 *
 * Ownership: @data is borrowed for the call; the queue keeps a copy.
 * Return: as mpconn_queue_put().
 */
MPCONN_EXPORT int mpconn_queue_put_bytes(mpconn_queue *q, const void *data,
                                         size_t len, int timeout_ms);

/**
 * mpconn_queue_get() - take the oldest item as a value, like get().
 * @q: the queue.
 * @msg: receives the message.
 * @timeout_ms: how long to wait while the queue is empty.
 *
 * The item is checked and decoded exactly as mpconn_recv() checks and
 * decodes a frame.  An item that is not one well-formed value (put with
 * mpconn_queue_put_bytes()) is taken from the queue and reported.
 *
 * Ownership: *msg is new; free it with mpconn_msg_free().  It does not
 * depend on the queue and outlives mpconn_queue_free().
 * Return: 0; MPCONN_EEMPTY (nothing within the timeout); MPCONN_EOF (the
 * queue is closed and every item has been taken); MPCONN_EBADVALUE,
 * MPCONN_ETOODEEP, MPCONN_EBADSET (the item was taken, and is not a
 * value); MPCONN_EBADFRAME (the shared memory was overwritten by someone
 * else; nothing is taken); MPCONN_EINVAL; MPCONN_ENOMEM (nothing is
 * taken).  On failure *msg is NULL.
 */
MPCONN_EXPORT int mpconn_queue_get(mpconn_queue *q, mpconn_msg **msg,
                                   int timeout_ms);

/**
 * mpconn_queue_get_bytes() - take the oldest item's raw payload.
 * @q: the queue.
 * @data: receives the payload; never NULL on success, even for 0 bytes.
 * @len: receives its length.
 * @timeout_ms: as mpconn_queue_get().
 *
 * Ownership: *data is new; release it with free().
 * Return: 0, MPCONN_EEMPTY, MPCONN_EOF, MPCONN_EBADFRAME, MPCONN_EINVAL or
 * MPCONN_ENOMEM, as mpconn_queue_get().  On failure *data is NULL.
 */
MPCONN_EXPORT int mpconn_queue_get_bytes(mpconn_queue *q, void **data,
                                         size_t *len, int timeout_ms);

/**
 * mpconn_queue_qsize() - how many items the queue holds, like qsize().
 * @q: the queue.
 *
 * The count is exact when read, in every process; it may change before
 * the caller acts on it.  mpconn_queue_empty() and mpconn_queue_full()
 * read the same count.  (A queue made with MPCONN_QUEUE_RINGS adds its
 * rings up without a lock: see there.)
 * Return: the count; 0 for NULL.
 */
MPCONN_EXPORT size_t mpconn_queue_qsize(const mpconn_queue *q);

/** mpconn_queue_empty() - whether mpconn_queue_qsize() is 0. */
MPCONN_EXPORT bool mpconn_queue_empty(const mpconn_queue *q);

/**
 * mpconn_queue_full() - whether the queue holds maxsize items.
 * @q: the queue.
 *
 * Always false for a queue made with maxsize 0.  A put may also wait when
 * the queue is not full, for room in its ring.
 * Return: as Python's full(): qsize() >= maxsize; false for NULL.
 */
MPCONN_EXPORT bool mpconn_queue_full(const mpconn_queue *q);

/**
 * mpconn_queue_close() - close the queue for every process.
 * @q: the queue.
 *
 * Idempotent.  Afterwards puts, in any process, return MPCONN_ECLOSED;
 * gets take the items that are left, then return MPCONN_EOF.  Waiting
 * puts and gets are woken with those codes.  Unlike Python's close(),
 * which only concerns the calling process, this is shared: consumers learn
 * that no more items will come without a sentinel item.
 * Return: 0 or MPCONN_EINVAL.
 */
MPCONN_EXPORT int mpconn_queue_close(mpconn_queue *q);

/**
 * mpconn_queue_task_done() - mark one item got as processed.
 * @q: the queue.
 *
 * JoinableQueue's task_done(): every queue counts the items put and not
 * yet marked done, in every process.
 * Return: 0; MPCONN_EINVAL when called more times than items were put
 * (Python's ValueError), or for NULL.
 */
MPCONN_EXPORT int mpconn_queue_task_done(mpconn_queue *q);

/**
 * mpconn_queue_join() - wait until every item put has been marked done.
 * @q: the queue.
 * @timeout_ms: how long to wait.
 *
 * JoinableQueue's join(), with a timeout.  An item whose consumer dies
 * before mpconn_queue_task_done() stays unfinished.
 * Return: 0, MPCONN_ETIMEDOUT or MPCONN_EINVAL.
 */
MPCONN_EXPORT int mpconn_queue_join(mpconn_queue *q, int timeout_ms);

/* ------------------------------------------------------------------------ */
/* Shared state                                                             */
/* ------------------------------------------------------------------------ */

/*
 * Python's multiprocessing.Array and Value, multiprocessing.shared_memory,
 * and the process-shared Lock, RLock, Semaphore, BoundedSemaphore, Event,
 * Condition and Barrier.  docs/shared.md has the Python equivalent of each
 * call, the memory layout, and what survives a crash.
 *
 * Every object here lives in memory shared between processes.  One made
 * with a _new() function is in a shared anonymous mapping: make it before
 * fork(), and every child forked afterwards uses the same handle and sees
 * every write.  It does not survive exec(), and unrelated processes cannot
 * open it.  A named array (mpconn_array_create(), mpconn_array_open()) is a
 * POSIX shared-memory object that any process of the same user, C or
 * Python, opens by its name.
 *
 * Each process that has a handle (the creator and each child forked
 * afterwards) frees its own with the _free() function, which unmaps the
 * object in that process only; the memory goes away with the last process
 * that maps it (and, for a named array, once its name is unlinked).
 *
 * Threads: every call may be made from any thread of any process at the
 * same time, except _free(), which must wait until no other thread of the
 * same process uses the handle.  Locks are owned by a thread: the thread
 * that acquired a Lock or RLock is the one that releases it.
 *
 * Timeouts as elsewhere: milliseconds, negative waits forever, 0 never
 * waits; an expired wait returns MPCONN_ETIMEDOUT.
 *
 * A process that dies holding a Lock, an RLock, an array's lock or a
 * Condition's lock does not leave it locked: the next process to acquire
 * it gets it, with MPCONN_EOWNERDEAD.  That code means the caller holds the
 * lock (release it as usual) and that whatever the lock protected may be
 * half-updated.  Only the first acquirer after the death sees it.  Each
 * object's section says what else a death does.
 */

/* Arrays and values ------------------------------------------------------ */

/*
 * An array holds @length elements of one type, named by the type codes of
 * Python's array module and multiprocessing.sharedctypes, with the C types
 * CPython uses on 64-bit Linux:
 *
 *   'c' char (1 byte)   'b' int8_t    'B' uint8_t    'h' int16_t
 *   'H' uint16_t        'i' int32_t   'I' uint32_t   'l' int64_t (long)
 *   'L' uint64_t        'q' int64_t   'Q' uint64_t   'f' float  'd' double
 *
 * The data is plain memory, aligned to 16 bytes at least and zero-filled
 * when the array is created; mpconn_array_data() gives its address.  A value
 * (Python's Value) is an array of one element.
 *
 * Each array has a lock unless it is made with MPCONN_ARRAY_NOLOCK: an
 * RLock, as Python's lock=True gives, so that code holding it may call
 * code that takes it again.  It is robust (see above).  The element
 * accessors below do not take it: each is one atomic load or store of the
 * element, so a reader never sees half a write; a read-modify-write (such
 * as adding one) needs the lock, as `v.value += 1` needs get_lock() in
 * Python.
 *
 * Named arrays: the data starts at byte 0 of the shared-memory object
 * /dev/shm/NAME and takes exactly length * itemsize bytes, so Python opens
 * it with SharedMemory(name="NAME") and reads memoryview(shm.buf).cast(
 * typecode).  The lock lives in a second object, /dev/shm/NAME.mpconn
 * (docs/shared.md, "Memory layout"), which Python neither sees nor needs.
 *
 * Names are those of Python's SharedMemory: "NAME" is the file
 * /dev/shm/NAME.  A leading '/' is accepted and ignored, as shm_open()
 * does.  A name has 1 to 255 bytes (248 with a lock, which takes 7 more),
 * no other '/', and is neither "." nor "..".
 */

/** An array or value in shared memory; opaque. */
typedef struct mpconn_array mpconn_array;
/** A recursive lock (Python's RLock); opaque. */
typedef struct mpconn_rlock mpconn_rlock;

/** Array flag: no lock (Python's lock=False). */
#define MPCONN_ARRAY_NOLOCK 0x1u

/**
 * mpconn_typecode_size() - the size of one element of a type code.
 * @typecode: one of "cbBhHiIlLqQfd".
 *
 * Return: the size in bytes (1, 2, 4 or 8), or MPCONN_ETYPE.
 */
MPCONN_EXPORT int mpconn_typecode_size(char typecode);

/**
 * mpconn_array_new() - an array in a shared anonymous mapping, like Array().
 * @a: receives the array.
 * @typecode: the element type (see above).
 * @length: the number of elements, at least 1.
 * @flags: 0, or MPCONN_ARRAY_NOLOCK.
 *
 * Create it before fork(): each child inherits it.  Its elements are 0.
 *
 * Ownership: *a is new; every process that has it frees its own with
 * mpconn_array_free().
 * Return: 0; MPCONN_ETYPE (an unknown type code); MPCONN_EINVAL (@length
 * 0, unknown flags, NULL @a); -EOVERFLOW (@length * itemsize does not fit
 * in memory); MPCONN_ENOMEM; -errno.  On failure *a is NULL.
 */
MPCONN_EXPORT int mpconn_array_new(mpconn_array **a, char typecode,
                                   size_t length, unsigned flags);

/**
 * mpconn_value_new() - a one-element array, like Value(typecode).
 * @v: receives the value.
 * @typecode: the type.
 * @flags: as mpconn_array_new().
 *
 * Ownership: as mpconn_array_new().
 * Return: as mpconn_array_new().
 */
MPCONN_EXPORT int mpconn_value_new(mpconn_array **v, char typecode,
                                   unsigned flags);

/**
 * mpconn_array_create() - a new named array other processes can open.
 * @a: receives the array.
 * @name: its name (see above), as Python's SharedMemory(name=...) takes it.
 * @typecode: the element type.
 * @length: the number of elements, at least 1.
 * @flags: 0, or MPCONN_ARRAY_NOLOCK (then no NAME.mpconn object is made).
 *
 * Creates /dev/shm/NAME (and /dev/shm/NAME.mpconn for the lock) with mode
 * 0600 whatever the umask, failing if either exists.  The data object is
 * exactly length * itemsize bytes, all zero.  The name stays until
 * mpconn_shm_unlink(): freeing the array does not remove it.
 *
 * Ownership: *a is new; free it with mpconn_array_free().  @name is
 * borrowed for the call.
 * Return: 0; -EEXIST (the name, or NAME.mpconn, exists); MPCONN_EBADNAME;
 * -ENAMETOOLONG; MPCONN_ETYPE; MPCONN_EINVAL; -EOVERFLOW; MPCONN_ENOMEM;
 * -errno (-EACCES, -ENOSPC, ...).  On failure nothing is left behind and
 * *a is NULL.
 */
MPCONN_EXPORT int mpconn_array_create(mpconn_array **a, const char *name,
                                      char typecode, size_t length,
                                      unsigned flags);

/**
 * mpconn_array_open() - attach to a named array, made by C or by Python.
 * @a: receives the array.
 * @name: its name.
 * @typecode: the element type to read it as.
 * @length: the number of elements to map, at least 1; the object must
 *          hold at least length * itemsize bytes.
 * @flags: 0, or MPCONN_ARRAY_NOLOCK to ignore any lock.
 *
 * The lock is the creator's: an array made by mpconn_array_create() with
 * a lock has one here too (and then @typecode must be the creator's, and
 * @length at most the creator's).  An object without NAME.mpconn — made by
 * Python's SharedMemory, or with MPCONN_ARRAY_NOLOCK — has no lock:
 * mpconn_array_get_lock() returns NULL.
 *
 * Ownership: as mpconn_array_create().
 * Return: 0; -ENOENT (no object of that name); MPCONN_ESHMSIZE (it is
 * smaller than @length elements, or the creator's length); MPCONN_ETYPE
 * (an unknown type code, or not the creator's); MPCONN_EBADNAME;
 * -ENAMETOOLONG; MPCONN_EINVAL (also: NAME.mpconn is not an mpconn lock);
 * -EOVERFLOW; MPCONN_ENOMEM; -errno.  On failure nothing stays mapped and
 * *a is NULL.
 */
MPCONN_EXPORT int mpconn_array_open(mpconn_array **a, const char *name,
                                    char typecode, size_t length,
                                    unsigned flags);

/**
 * mpconn_shm_unlink() - remove a named array's names, like unlink().
 * @name: the name given to mpconn_array_create().
 *
 * Removes /dev/shm/NAME and /dev/shm/NAME.mpconn.  Processes that have the
 * array mapped keep using it; the memory goes away with the last of them.
 * Call it once, in the process that owns the array (usually its creator).
 *
 * Return: 0 when at least one of the two existed; -ENOENT when neither
 * did (for example because a Python 3.11 or 3.12 process that attached to
 * it has exited: see docs/python.md); MPCONN_EBADNAME; -ENAMETOOLONG;
 * MPCONN_EINVAL; -errno.
 */
MPCONN_EXPORT int mpconn_shm_unlink(const char *name);

/**
 * mpconn_array_free() - unmap an array in this process.
 * @a: the array, or NULL (a no-op).
 *
 * Ownership: @a and its data pointer are invalid afterwards.  A named
 * array's name stays (see mpconn_shm_unlink()).
 */
MPCONN_EXPORT void mpconn_array_free(mpconn_array *a);

/** mpconn_array_length() - the number of elements; 0 for NULL. */
MPCONN_EXPORT size_t mpconn_array_length(const mpconn_array *a);

/** mpconn_array_typecode() - the type code; '\0' for NULL. */
MPCONN_EXPORT char mpconn_array_typecode(const mpconn_array *a);

/** mpconn_array_itemsize() - the size of one element; 0 for NULL. */
MPCONN_EXPORT size_t mpconn_array_itemsize(const mpconn_array *a);

/**
 * mpconn_array_data() - the first element.
 * @a: the array.
 *
 * Cast it to the type of the type code: int32_t * for 'i', and so on.
 * Other processes may write the memory at any time: plain reads and
 * writes of it from several processes need the lock, or C11 atomics.
 *
 * Ownership: borrowed, valid until mpconn_array_free(@a) in this process.
 * Return: the address; NULL for NULL.
 */
MPCONN_EXPORT void *mpconn_array_data(const mpconn_array *a);

/**
 * mpconn_array_name() - a named array's name, without the leading '/'.
 * @a: the array.
 *
 * Ownership: borrowed, valid until mpconn_array_free(@a).
 * Return: the name; NULL for an anonymous array or NULL.
 */
MPCONN_EXPORT const char *mpconn_array_name(const mpconn_array *a);

/**
 * mpconn_array_get_lock() - the array's lock, like get_lock().
 * @a: the array.
 *
 * Acquire and release it with mpconn_rlock_acquire() and
 * mpconn_rlock_release(); a Condition may use it (mpconn_condition_new()).
 *
 * Ownership: borrowed, valid until mpconn_array_free(@a); never freed
 * with mpconn_rlock_free().
 * Return: the lock; NULL when the array has none or for NULL.
 */
MPCONN_EXPORT mpconn_rlock *mpconn_array_get_lock(const mpconn_array *a);

/*
 * Element accessors.  Each is one atomic load or store and does not take
 * the lock.  @i must be below the length (MPCONN_EINVAL otherwise).
 *
 * _int and _uint read and write the integer codes and 'c' (a byte, 0 to
 * 255): a value the element cannot hold is -ERANGE and nothing is written;
 * a read that the output cannot hold ('Q' above INT64_MAX read with _int,
 * a negative element read with _uint) is -ERANGE.  Writing an integer to
 * 'f' or 'd' converts it, as Python does; reading 'f' or 'd' as an
 * integer is MPCONN_ETYPE (Python's TypeError).
 *
 * _double reads any code, converting integers; it writes only 'f' and 'd'
 * (MPCONN_ETYPE for the others, as Python refuses a float in an int).  A
 * double beyond a float's range stores in 'f' as an infinity, as Python's
 * array('f') and c_float do.
 */
MPCONN_EXPORT int mpconn_array_get_int(const mpconn_array *a, size_t i,
                                       int64_t *out);
MPCONN_EXPORT int mpconn_array_get_uint(const mpconn_array *a, size_t i,
                                        uint64_t *out);
MPCONN_EXPORT int mpconn_array_get_double(const mpconn_array *a, size_t i,
                                          double *out);
MPCONN_EXPORT int mpconn_array_set_int(mpconn_array *a, size_t i, int64_t v);
MPCONN_EXPORT int mpconn_array_set_uint(mpconn_array *a, size_t i, uint64_t v);
MPCONN_EXPORT int mpconn_array_set_double(mpconn_array *a, size_t i, double v);

/* The value's element, as v.value: the accessors above at index 0. */
static inline int mpconn_value_get_int(const mpconn_array *v, int64_t *out) {
  return mpconn_array_get_int(v, 0, out);
}
static inline int mpconn_value_get_uint(const mpconn_array *v, uint64_t *out) {
  return mpconn_array_get_uint(v, 0, out);
}
static inline int mpconn_value_get_double(const mpconn_array *v, double *out) {
  return mpconn_array_get_double(v, 0, out);
}
static inline int mpconn_value_set_int(mpconn_array *v, int64_t x) {
  return mpconn_array_set_int(v, 0, x);
}
static inline int mpconn_value_set_uint(mpconn_array *v, uint64_t x) {
  return mpconn_array_set_uint(v, 0, x);
}
static inline int mpconn_value_set_double(mpconn_array *v, double x) {
  return mpconn_array_set_double(v, 0, x);
}

/* Lock and RLock --------------------------------------------------------- */

/*
 * Lock is Python's multiprocessing.Lock, RLock its RLock; both are robust
 * process-shared mutexes.  Acquiring returns 0 or MPCONN_EOWNERDEAD (held
 * either way), or MPCONN_ETIMEDOUT.  A Lock acquired again by its holder
 * waits, as in Python (until the timeout, or for ever); an RLock counts
 * its holder's acquisitions and is free once each is released.
 *
 * Unlike Python's Lock, which any process may release, a Lock or RLock is
 * released by the thread that holds it: the holder is what the kernel
 * watches to hand the lock over when it dies.  Releasing one the caller
 * does not hold is MPCONN_ENOTOWNER (Python: ValueError for Lock,
 * RuntimeError for RLock).
 *
 * Death: the holder's death frees the lock for the next acquirer, which
 * gets MPCONN_EOWNERDEAD; an RLock then counts one acquisition, whatever
 * the dead holder's count was.  A process that dies waiting changes
 * nothing.
 */

/** A non-recursive lock (Python's Lock); opaque. */
typedef struct mpconn_lock mpconn_lock;

/**
 * mpconn_lock_new() - create a Lock in shared memory, before fork().
 * @l: receives the lock, unlocked.
 *
 * Ownership: *l is new; each process frees its own with mpconn_lock_free().
 * Return: 0, MPCONN_EINVAL, MPCONN_ENOMEM or -errno; on failure *l is NULL.
 */
MPCONN_EXPORT int mpconn_lock_new(mpconn_lock **l);

/** mpconn_lock_free() - unmap a Lock in this process; NULL is a no-op. */
MPCONN_EXPORT void mpconn_lock_free(mpconn_lock *l);

/**
 * mpconn_lock_acquire() - acquire(timeout=...).
 * @l: the lock.
 * @timeout_ms: how long to wait; 0 tries once (acquire(False)).
 *
 * Return: 0; MPCONN_EOWNERDEAD (acquired; the holder died); MPCONN_ETIMEDOUT;
 * MPCONN_EINVAL.
 */
MPCONN_EXPORT int mpconn_lock_acquire(mpconn_lock *l, int timeout_ms);

/**
 * mpconn_lock_release() - release().
 * @l: the lock.
 *
 * Return: 0, MPCONN_ENOTOWNER (the calling thread does not hold it),
 * MPCONN_EINVAL.
 */
MPCONN_EXPORT int mpconn_lock_release(mpconn_lock *l);

/**
 * mpconn_rlock_new() - create an RLock in shared memory, before fork().
 * @l: receives the lock, unlocked.
 *
 * Ownership: *l is new; each process frees its own with mpconn_rlock_free().
 * Return: 0, MPCONN_EINVAL, MPCONN_ENOMEM or -errno; on failure *l is NULL.
 */
MPCONN_EXPORT int mpconn_rlock_new(mpconn_rlock **l);

/**
 * mpconn_rlock_free() - unmap an RLock in this process; NULL is a no-op.
 * @l: an RLock from mpconn_rlock_new(); never an array's lock.
 */
MPCONN_EXPORT void mpconn_rlock_free(mpconn_rlock *l);

/**
 * mpconn_rlock_acquire() - acquire(timeout=...); the holder may nest.
 * @l: the lock (also an array's, from mpconn_array_get_lock()).
 * @timeout_ms: how long to wait.
 *
 * Return: as mpconn_lock_acquire().
 */
MPCONN_EXPORT int mpconn_rlock_acquire(mpconn_rlock *l, int timeout_ms);

/**
 * mpconn_rlock_release() - release() one acquisition.
 * @l: the lock.
 *
 * Return: 0, MPCONN_ENOTOWNER (the calling thread does not hold it),
 * MPCONN_EINVAL.
 */
MPCONN_EXPORT int mpconn_rlock_release(mpconn_rlock *l);

/* Semaphore and BoundedSemaphore ---------------------------------------- */

/*
 * A counter that acquire decrements, waiting while it is 0, and release
 * increments: Python's Semaphore and BoundedSemaphore.  Any process may
 * release, so a semaphore has no holder: when a process dies after
 * acquiring, the count it took is not given back (as with Python's and
 * POSIX semaphores), and no other process is told.  The others carry on
 * with the count that is left; a parent that knows what a dead child held
 * may release it for the child.  A process that dies waiting changes
 * nothing.
 */

/** A semaphore; opaque. */
typedef struct mpconn_semaphore mpconn_semaphore;

/** The largest count a semaphore holds (Python's SEM_VALUE_MAX). */
#define MPCONN_SEMAPHORE_MAX 0x7fffffff

/**
 * mpconn_semaphore_new() - create a Semaphore(value), before fork().
 * @s: receives the semaphore.
 * @value: the initial count, at most MPCONN_SEMAPHORE_MAX.
 *
 * Ownership: *s is new; each process frees its own with
 * mpconn_semaphore_free().
 * Return: 0, MPCONN_EINVAL, MPCONN_ENOMEM or -errno; on failure *s is NULL.
 */
MPCONN_EXPORT int mpconn_semaphore_new(mpconn_semaphore **s, unsigned value);

/**
 * mpconn_bounded_semaphore_new() - create a BoundedSemaphore(value).
 * @s: receives the semaphore.
 * @value: the initial count, which releases may not exceed.
 *
 * Ownership: as mpconn_semaphore_new().
 * Return: as mpconn_semaphore_new().
 */
MPCONN_EXPORT int mpconn_bounded_semaphore_new(mpconn_semaphore **s,
                                               unsigned value);

/** mpconn_semaphore_free() - unmap it in this process; NULL is a no-op. */
MPCONN_EXPORT void mpconn_semaphore_free(mpconn_semaphore *s);

/**
 * mpconn_semaphore_acquire() - acquire(timeout=...): take one from the count.
 * @s: the semaphore.
 * @timeout_ms: how long to wait while the count is 0.
 *
 * Return: 0, MPCONN_ETIMEDOUT or MPCONN_EINVAL.
 */
MPCONN_EXPORT int mpconn_semaphore_acquire(mpconn_semaphore *s, int timeout_ms);

/**
 * mpconn_semaphore_release() - release(): add one to the count.
 * @s: the semaphore.
 *
 * Return: 0; MPCONN_EOVERRELEASE (a bounded semaphore already at its
 * initial value: Python's ValueError; the count is unchanged); -EOVERFLOW
 * (at MPCONN_SEMAPHORE_MAX); MPCONN_EINVAL.
 */
MPCONN_EXPORT int mpconn_semaphore_release(mpconn_semaphore *s);

/**
 * mpconn_semaphore_value() - get_value(): the count now.
 * @s: the semaphore.
 *
 * Return: the count (it may change at once), or MPCONN_EINVAL.
 */
MPCONN_EXPORT int mpconn_semaphore_value(const mpconn_semaphore *s);

/* Event ------------------------------------------------------------------ */

/*
 * Python's Event: a flag that set() raises, waking every waiter, and
 * clear() lowers.  It has no holder: a process that dies changes nothing.
 */

/** An event; opaque. */
typedef struct mpconn_event mpconn_event;

/**
 * mpconn_event_new() - create an Event, not set, before fork().
 * @e: receives the event.
 *
 * Ownership: *e is new; each process frees its own with mpconn_event_free().
 * Return: 0, MPCONN_EINVAL, MPCONN_ENOMEM or -errno; on failure *e is NULL.
 */
MPCONN_EXPORT int mpconn_event_new(mpconn_event **e);

/** mpconn_event_free() - unmap an Event in this process; NULL is a no-op. */
MPCONN_EXPORT void mpconn_event_free(mpconn_event *e);

/** mpconn_event_set() - set(): raise the flag and wake every waiter.
 *  Return: 0 or MPCONN_EINVAL. */
MPCONN_EXPORT int mpconn_event_set(mpconn_event *e);

/** mpconn_event_clear() - clear(): lower the flag.
 *  Return: 0 or MPCONN_EINVAL. */
MPCONN_EXPORT int mpconn_event_clear(mpconn_event *e);

/** mpconn_event_is_set() - is_set(); false for NULL. */
MPCONN_EXPORT bool mpconn_event_is_set(const mpconn_event *e);

/**
 * mpconn_event_wait() - wait(timeout=...): wait until the flag is set.
 * @e: the event.
 * @timeout_ms: how long to wait.
 *
 * A waiter woken by set() returns 0 even if the flag was cleared again
 * before it ran (as threading.Event's wait() returns True).
 * Return: 0 (set), MPCONN_ETIMEDOUT (Python's False), MPCONN_EINVAL.
 */
MPCONN_EXPORT int mpconn_event_wait(mpconn_event *e, int timeout_ms);

/* Condition -------------------------------------------------------------- */

/*
 * Python's Condition: an RLock and a way to wait, with the lock released,
 * until another process notifies.  Wait in a loop that checks the
 * predicate (or use mpconn_condition_wait_for()): a wait may end early,
 * for example after a waiter died (below).
 *
 * wait, wait_for, notify and notify_all need the caller to hold the lock:
 * otherwise they return MPCONN_ENOTOWNER (Python's RuntimeError).
 * notify(n) lets at most n of the processes waiting at the time return.
 *
 * Death: a process that dies holding the lock frees it, and the next to
 * acquire it, which may be a waiter taking it back in wait, gets
 * MPCONN_EOWNERDEAD with the lock held.  A process that dies while
 * waiting may use up one notification, or make one later wait return
 * early; no waiter is left asleep by it for longer than 100 ms once a
 * notification is pending.
 */

/** A condition variable; opaque. */
typedef struct mpconn_condition mpconn_condition;

/**
 * mpconn_condition_new() - create a Condition(lock), before fork().
 * @c: receives the condition.
 * @lock: the RLock to use, for example an array's lock, or NULL for a new
 *        one of the condition's own.
 *
 * Ownership: *c is new; each process frees its own with
 * mpconn_condition_free().  @lock is borrowed: it must outlive *c.
 * Return: 0, MPCONN_EINVAL, MPCONN_ENOMEM or -errno; on failure *c is NULL.
 */
MPCONN_EXPORT int mpconn_condition_new(mpconn_condition **c,
                                       mpconn_rlock *lock);

/** mpconn_condition_free() - unmap a Condition in this process (not a lock
 *  passed to mpconn_condition_new()); NULL is a no-op. */
MPCONN_EXPORT void mpconn_condition_free(mpconn_condition *c);

/** mpconn_condition_acquire() - acquire the lock; as
 *  mpconn_rlock_acquire(). */
MPCONN_EXPORT int mpconn_condition_acquire(mpconn_condition *c, int timeout_ms);

/** mpconn_condition_release() - release the lock; as
 *  mpconn_rlock_release(). */
MPCONN_EXPORT int mpconn_condition_release(mpconn_condition *c);

/**
 * mpconn_condition_wait() - wait(timeout=...) for a notification.
 * @c: the condition; the caller holds its lock (any number of times).
 * @timeout_ms: how long to wait for a notification.
 *
 * Releases the lock entirely, waits, and acquires it again as many times
 * as it was held, also when the wait timed out.  Taking the lock back
 * waits for as long as that takes, as in Python.
 *
 * Return: 0 (notified); MPCONN_ETIMEDOUT (Python's False); MPCONN_EOWNERDEAD
 * (the lock is held again, and a holder died meanwhile: check the state);
 * MPCONN_ENOTOWNER (the lock was not held; nothing was done);
 * MPCONN_EINVAL.
 */
MPCONN_EXPORT int mpconn_condition_wait(mpconn_condition *c, int timeout_ms);

/**
 * mpconn_condition_wait_for() - wait_for(predicate, timeout=...).
 * @c: the condition; the caller holds its lock.
 * @predicate: called with @arg and the lock held; true ends the wait.
 * @arg: passed to @predicate.
 * @timeout_ms: the longest the whole call waits.
 *
 * Return: 0 (@predicate returned true, perhaps at once); MPCONN_ETIMEDOUT
 * (still false at the deadline); MPCONN_EOWNERDEAD (returned at once, lock
 * held: repair the state, then call again); MPCONN_ENOTOWNER;
 * MPCONN_EINVAL.
 */
MPCONN_EXPORT int mpconn_condition_wait_for(mpconn_condition *c,
                                            bool (*predicate)(void *arg),
                                            void *arg, int timeout_ms);

/**
 * mpconn_condition_notify() - notify(n): let up to @n waiters return.
 * @c: the condition; the caller holds its lock.
 * @n: how many.
 *
 * Return: 0, MPCONN_ENOTOWNER, MPCONN_EINVAL.
 */
MPCONN_EXPORT int mpconn_condition_notify(mpconn_condition *c, unsigned n);

/** mpconn_condition_notify_all() - notify_all(): as notify() of every
 *  process waiting now.  Return: 0, MPCONN_ENOTOWNER, MPCONN_EINVAL. */
MPCONN_EXPORT int mpconn_condition_notify_all(mpconn_condition *c);

/* Barrier ---------------------------------------------------------------- */

/*
 * Python's Barrier(parties): each wait blocks until @parties processes (or
 * threads) have called it, then all return together and the barrier is
 * ready for the next round.  A broken barrier makes every waiter, and
 * every later wait, return MPCONN_EBROKEN (BrokenBarrierError) until
 * mpconn_barrier_reset().  It breaks when mpconn_barrier_abort() is
 * called, when a wait times out (that caller gets MPCONN_ETIMEDOUT, as
 * Python's wait raises BrokenBarrierError when it times out), and when a
 * participant dies.
 *
 * Death: each waiter is recorded by process (its pid and start time), and
 * a waiter that has slept 100 ms looks whether every process waiting with
 * it is still alive, a zombie counting as dead.  So when a process is
 * killed while it waits, the others get MPCONN_EBROKEN within about
 * 100 ms instead of hanging.  A process that dies before it reaches the
 * barrier is not known to it: the others wait until their timeout.  A
 * participant is a process: a thread that exits while waiting is not
 * noticed.
 *
 * Python's action argument has no counterpart: the caller that gets
 * index 0 can run it, as Python's documentation suggests.
 */

/** A barrier; opaque. */
typedef struct mpconn_barrier mpconn_barrier;

/**
 * mpconn_barrier_new() - create a Barrier(parties), before fork().
 * @b: receives the barrier.
 * @parties: how many callers each round waits for, 1 to 65536.
 *
 * Ownership: *b is new; each process frees its own with
 * mpconn_barrier_free().
 * Return: 0, MPCONN_EINVAL, MPCONN_ENOMEM or -errno; on failure *b is NULL.
 */
MPCONN_EXPORT int mpconn_barrier_new(mpconn_barrier **b, unsigned parties);

/** mpconn_barrier_free() - unmap a Barrier in this process; NULL is a
 *  no-op. */
MPCONN_EXPORT void mpconn_barrier_free(mpconn_barrier *b);

/**
 * mpconn_barrier_wait() - wait(timeout=...) for the round to fill.
 * @b: the barrier.
 * @timeout_ms: how long to wait.
 *
 * Return: the caller's place in the round, 0 to parties - 1, in the order
 * of arrival (the last to arrive gets parties - 1); MPCONN_EBROKEN (broken
 * before or while waiting, or reset while waiting); MPCONN_ETIMEDOUT (the
 * barrier is now broken); MPCONN_EINVAL.
 */
MPCONN_EXPORT int mpconn_barrier_wait(mpconn_barrier *b, int timeout_ms);

/** mpconn_barrier_reset() - reset(): waiters get MPCONN_EBROKEN, and the
 *  barrier is whole and empty again.  Return: 0 or MPCONN_EINVAL. */
MPCONN_EXPORT int mpconn_barrier_reset(mpconn_barrier *b);

/** mpconn_barrier_abort() - abort(): break the barrier.
 *  Return: 0 or MPCONN_EINVAL. */
MPCONN_EXPORT int mpconn_barrier_abort(mpconn_barrier *b);

/** mpconn_barrier_parties() - the parties property; 0 for NULL. */
MPCONN_EXPORT unsigned mpconn_barrier_parties(const mpconn_barrier *b);

/** mpconn_barrier_n_waiting() - n_waiting: callers waiting in this round
 *  (0 when broken or for NULL). */
MPCONN_EXPORT unsigned mpconn_barrier_n_waiting(const mpconn_barrier *b);

/** mpconn_barrier_broken() - the broken property; false for NULL. */
MPCONN_EXPORT bool mpconn_barrier_broken(const mpconn_barrier *b);

#ifdef __cplusplus
}
#endif

#endif /* MPCONN_H */
