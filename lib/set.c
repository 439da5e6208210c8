/* SPDX-License-Identifier: MIT */
/*
 * Sets: ext type MPCONN_EXT_SET whose payload is one msgpack array of the
 * members.  msgpack-c keeps ext payloads opaque, so members are packed into
 * a buffer of their own first, and decoded from the payload on demand
 * (validate.c) into the caller's zone, their bodies left in the payload.
 */
#include "mpconn-private.h"

int mpconn_pack_set(msgpack_packer *pk, const msgpack_object *members,
                    size_t n) {
  if (!pk || (!members && n) || n > UINT32_MAX)
    return MPCONN_EINVAL;
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer body;
  msgpack_packer_init(&body, &sb, msgpack_sbuffer_write);
  /* The only way an sbuffer write fails is a failed realloc. */
  int rc = msgpack_pack_array(&body, n) ? MPCONN_ENOMEM : 0;
  for (size_t i = 0; !rc && i < n; i++)
    if (msgpack_pack_object(&body, members[i]))
      rc = MPCONN_ENOMEM;
  if (!rc && sb.size > UINT32_MAX)
    rc = MPCONN_EINVAL;
  if (!rc && (msgpack_pack_ext(pk, sb.size, MPCONN_EXT_SET) ||
              msgpack_pack_ext_body(pk, sb.data, sb.size)))
    rc = MPCONN_EINVAL;
  msgpack_sbuffer_destroy(&sb);
  return rc;
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
