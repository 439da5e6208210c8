/* SPDX-License-Identifier: MIT */
/* validate.c — one pass over a frame that checks it and, when asked,
 * decodes it. */
#ifndef MPCONN_VALIDATE_H
#define MPCONN_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

/* Checking: 0, or MPCONN_EBADVALUE, MPCONN_ETOODEEP, MPCONN_EBADSET. */
int mpconn__validate(const uint8_t *p, size_t n);
/* As mpconn__validate(); *zone_bytes (may be NULL) receives exactly what
 * msgpack-c allocates from its zone to decode the frame, at most
 * 24 * (n - 1).  msgpack_zone_init(&z, *zone_bytes) then msgpack_unpack()
 * into z decodes in one allocation; msgpack_unpack_next()'s own zone grows
 * in doubling chunks and can take about twice that. */
int mpconn__validate_sized(const uint8_t *p, size_t n, size_t *zone_bytes);
/* As mpconn__validate_sized(), also refusing a value whose whole tree,
 * the members of its sets at any depth included, would take more than
 * @limit bytes: MPCONN_EDECODELIMIT, found before anything is allocated
 * (the walk stops there). */
int mpconn__validate_limited(const uint8_t *p, size_t n, size_t limit,
                             size_t *zone_bytes);
/* A set's ext payload: exactly one array and nothing after it.  0,
 * MPCONN_EBADSET or MPCONN_ETOODEEP; *zone_bytes as above. */
int mpconn__validate_set(const uint8_t *p, size_t n, size_t *zone_bytes);
/* Check and decode p[0, n) into *@out as msgpack_unpack() would (str,
 * bin and ext bodies point into p; an empty str too, never NULL), the
 * containers allocated from @zone.  The codes of mpconn__validate(), or
 * MPCONN_ENOMEM when @zone cannot grow; on failure *@out is undefined
 * and @zone may have been used. */
int mpconn__decode(const uint8_t *p, size_t n, msgpack_zone *zone,
                   msgpack_object *out);
/* The same for a set's ext payload, with the codes of
 * mpconn__validate_set(): *@out is the members' array. */
int mpconn__decode_set(const uint8_t *p, size_t n, msgpack_zone *zone,
                       msgpack_object *out);

#endif
