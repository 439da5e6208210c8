/* SPDX-License-Identifier: MIT */
/*
 * Sets: ext type MPCONN_EXT_SET whose payload is one msgpack array of the
 * members.  msgpack-c keeps ext payloads opaque, so members are packed into
 * a buffer of their own first (every set is packed by
 * mpconn_pack_set_with(): sets of objects, of format strings, of the
 * tool's JSON), and decoded from the payload on demand (validate.c) into
 * the caller's zone, their bodies left in the payload.
 */
#include "mpconn-private.h"

int mpconn_pack_set_with(msgpack_packer *pk, size_t n,
                         mpconn_pack_fn pack_members, void *arg) {
  if (!pk || !pack_members || n > UINT32_MAX)
    return MPCONN_EINVAL;
  struct mpconn__packbuf members;
  msgpack_packer *body = mpconn__packbuf_init(&members);
  const struct mpconn__wbuf *b = &members.b;
  msgpack_pack_array(body, n);
  int rc = b->oom ? MPCONN_ENOMEM : pack_members(body, arg);
  if (rc == 0 && b->oom)
    rc = MPCONN_ENOMEM;
  if (rc == 0 && b->len > UINT32_MAX)
    rc = MPCONN_ETOOBIG;
  if (rc == 0 && (msgpack_pack_ext(pk, b->len, MPCONN_EXT_SET) ||
                  msgpack_pack_ext_body(pk, b->p, b->len)))
    rc = MPCONN_EINVAL;
  mpconn__wbuf_free(&members.b);
  return rc;
}

struct objects {
  const msgpack_object *v;
  size_t n;
};

static int pack_objects(msgpack_packer *pk, void *arg) {
  const struct objects *o = arg;
  for (size_t i = 0; i < o->n; i++)
    if (msgpack_pack_object(pk, o->v[i]))
      return MPCONN_ENOMEM;
  return 0;
}

int mpconn_pack_set(msgpack_packer *pk, const msgpack_object *members,
                    size_t n) {
  if (!members && n)
    return MPCONN_EINVAL;
  struct objects o = {members, n};
  int rc = mpconn_pack_set_with(pk, n, pack_objects, &o);
  return rc == MPCONN_ETOOBIG ? MPCONN_EINVAL : rc;
}

int mpconn_set_unpack(const msgpack_object *set, msgpack_zone *zone,
                      msgpack_object_array *members) {
  if (!set || !zone || !members || set->type != MSGPACK_OBJECT_EXT ||
      set->via.ext.type != MPCONN_EXT_SET)
    return MPCONN_EINVAL;
  /* Checked as frames are: msgpack-c would trust the counts in it.  On
   * failure nothing is handed out (the zone may have been used). */
  msgpack_object obj;
  int rc = mpconn__decode_set((const uint8_t *)set->via.ext.ptr,
                              set->via.ext.size, zone, &obj);
  if (rc < 0)
    return rc;
  *members = obj.via.array;
  return 0;
}
