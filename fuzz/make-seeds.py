#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed inputs of the fuzz targets into fuzz/corpus/<target>/.

Each seed is a small file named seed-<what>; the input layouts are those
described at the top of each fuzz/fuzz-<target>.c.  Files the fuzzer added
to the corpora (named by their SHA-1) are left alone.  Run from anywhere:

    python3 fuzz/make-seeds.py

Only the standard library is used; msgpack bytes are written by hand so
that malformed ones can be written just as easily.
"""
import hashlib
import hmac
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, 'corpus')


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'seed-' + name), 'wb') as f:
        f.write(data)


# --------------------------------------------------------------------------
# msgpack, by hand
# --------------------------------------------------------------------------

def u8(v): return struct.pack('>B', v)
def u16(v): return struct.pack('>H', v)
def u32(v): return struct.pack('>I', v)
def u64(v): return struct.pack('>Q', v)


def mp_str(b):
    if isinstance(b, str):
        b = b.encode()
    n = len(b)
    if n < 32:
        return u8(0xa0 | n) + b
    if n < 256:
        return b'\xd9' + u8(n) + b
    return b'\xda' + u16(n) + b


def mp_int(v):
    if 0 <= v < 128:
        return u8(v)
    if -32 <= v < 0:
        return struct.pack('>b', v)
    if 0 <= v < 256:
        return b'\xcc' + u8(v)
    if 0 <= v < 65536:
        return b'\xcd' + u16(v)
    if v >= 0:
        return b'\xce' + u32(v) if v < 2**32 else b'\xcf' + u64(v)
    return b'\xd3' + struct.pack('>q', v)


def mp_array(items):
    n = len(items)
    head = u8(0x90 | n) if n < 16 else b'\xdc' + u16(n)
    return head + b''.join(items)


def mp_map(pairs):
    n = len(pairs)
    head = u8(0x80 | n) if n < 16 else b'\xde' + u16(n)
    return head + b''.join(k + v for k, v in pairs)


def mp_ext(t, body):
    n = len(body)
    fix = {1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8}
    if n in fix:
        return u8(fix[n]) + struct.pack('>b', t) + body
    if n < 256:
        return b'\xc7' + u8(n) + struct.pack('>b', t) + body
    return b'\xc8' + u16(n) + struct.pack('>b', t) + body


def mp_set(members):
    return mp_ext(83, mp_array(members))


def nested_arrays(depth, inner=b'\xc0'):
    return b'\x91' * depth + inner


NIL = b'\xc0'

# Valid values of every kind, and the hostile ones.
VALUES = {
    'nil': NIL,
    'false': b'\xc2',
    'true': b'\xc3',
    'fixint': b'\x2a',
    'negfixint': b'\xe0',
    'uint8': b'\xcc\xff',
    'uint16': b'\xcd\xff\xff',
    'uint32': b'\xce\xff\xff\xff\xff',
    'uint64': b'\xcf' + b'\xff' * 8,
    'int8': b'\xd0\x80',
    'int16': b'\xd1\x80\x00',
    'int32': b'\xd2\x80\x00\x00\x00',
    'int64': b'\xd3\x80' + b'\x00' * 7,
    'int64-long-1': b'\xd3' + b'\x00' * 7 + b'\x01',
    'float32': b'\xca' + struct.pack('>f', 0.1),
    'float64': b'\xcb' + struct.pack('>d', 0.1),
    'nan': b'\xcb\x7f\xf8' + b'\x00' * 6,
    'nan-payload': b'\xcb\xff\xf0' + b'\x00' * 5 + b'\x01',
    'inf': b'\xcb' + struct.pack('>d', float('inf')),
    'minus-zero': b'\xcb' + struct.pack('>d', -0.0),
    'str-empty': b'\xa0',
    'str': mp_str('abc'),
    'str8-long-form': b'\xd9\x01a',
    'str16': b'\xda\x00\x03abc',
    'str32': b'\xdb\x00\x00\x00\x03abc',
    'str-not-utf8': b'\xa2\xff\xfe',
    'str-nul': b'\xa3a\x00b',
    'str-utf8': mp_str('h\u00e9\u20ac\U0001f600'),
    'bin-empty': b'\xc4\x00',
    'bin8': b'\xc4\x03\x01\x02\x03',
    'bin16': b'\xc5\x00\x02\xff\x00',
    'bin32': b'\xc6\x00\x00\x00\x01\x00',
    'fixext1': b'\xd4\x05\x01',
    'fixext2': b'\xd5\x05\x01\x02',
    'fixext4': b'\xd6\xff' + b'\x01' * 4,
    'fixext8': b'\xd7\x80' + b'\x01' * 8,
    'fixext16': b'\xd8\x7f' + b'\x01' * 16,
    'ext8-empty': b'\xc7\x00\x05',
    'ext16': b'\xc8\x00\x01\x05\xaa',
    'ext32': b'\xc9\x00\x00\x00\x02\x05\xaa\xbb',
    'array-empty': b'\x90',
    'array': mp_array([b'\x01', mp_str('a'), NIL]),
    'array16': b'\xdc\x00\x02\x01\x02',
    'array32': b'\xdd\x00\x00\x00\x02\x01\x02',
    'array-1000': mp_array([mp_int(i % 100) for i in range(1000)]),
    'map-empty': b'\x80',
    'map': mp_map([(mp_str('a'), b'\x01'),
                   (mp_str('b'), mp_array([b'\x01', b'\x02']))]),
    'map16': b'\xde\x00\x01\xa1a\x01',
    'map32': b'\xdf\x00\x00\x00\x01\xa1a\x01',
    'map-dup-keys': mp_map([(mp_str('a'), b'\x01'), (mp_str('a'), b'\x02')]),
    'map-int-keys': mp_map([(b'\x01', b'\x02'), (NIL, b'\xc3'),
                            (b'\xc3', NIL)]),
    'map-dollar-key': mp_map([(mp_str('$set'), mp_array([b'\x01']))]),
    'map-600': mp_map([(mp_int(i), NIL) for i in range(600)]),
    'map-odd-keys': mp_map([(mp_str('a b'), b'\x01'),
                            (mp_str('"\\\n'), b'\x02'),
                            (b'\xcb' + struct.pack('>d', 1.5), b'\x03')]),
    'set': mp_set([b'\x01', b'\x02', b'\x03']),
    'set-empty': mp_ext(83, b'\x90'),
    'set-of-strs': mp_set([mp_str('a'), mp_str('b')]),
    'set-in-set': mp_set([mp_set([b'\x01']), mp_set([])]),
    'set-in-map': mp_map([(mp_str('s'), mp_set([b'\x01']))]),
    'set-array16': mp_ext(83, b'\xdc\x00\x01\x01'),
    'everything': mp_array([NIL, b'\xc3', b'\x01', b'\xe0',
                            b'\xcb' + struct.pack('>d', 1.5), mp_str('s'),
                            b'\xc4\x01\x00', mp_ext(5, b'\x01'),
                            mp_map([(mp_str('k'), mp_array([]))]),
                            mp_set([b'\x02'])]),
    'depth-32': nested_arrays(32),
    'depth-32-maps': b'\x81\xa1k' * 31 + b'\x81\xa1k\xc0',
    # Hostile: the validator must refuse these before msgpack-c sees them.
    'hostile-array32-huge': b'\xdd\xff\x00\x00\x00',
    'hostile-31-nested-array32': b'\xdd\x0f\xff\xff\xff' * 31,
    'hostile-33-nested-arrays': nested_arrays(33),
    'hostile-map32-huge': b'\xdf\xff\xff\xff\xff',
    'hostile-str32-huge': b'\xdb\xff\xff\xff\xff',
    'hostile-bin32-huge': b'\xc6\xff\xff\xff\xff',
    'hostile-ext32-huge': b'\xc9\xff\xff\xff\xff\x05',
    'hostile-c1': b'\xc1',
    'hostile-empty': b'',
    'hostile-trailing': b'\x01\x02',
    'hostile-truncated-str': b'\xd9\x05a',
    'hostile-truncated-array': b'\x93\x01',
    'hostile-truncated-uint64': b'\xcf\x00\x00',
    'hostile-array16-count': b'\xdc\x00\x03\x01',
    'badset-nil': b'\xd4\x53\xc0',
    'badset-empty': b'\xc7\x00\x53',
    'badset-map': b'\xc7\x01\x53\x80',
    'badset-two-arrays': b'\xc7\x02\x53\x90\x90',
    'badset-truncated': b'\xc7\x02\x53\x92\x01',
    'badset-trailing': b'\xc7\x03\x53\x91\x01\x02',
    'badset-nested': mp_set([b'\xd4\x53\xc0']),
    'badset-too-deep': mp_set([nested_arrays(32)]),
}
# 32 sets, each holding an array (a level): the most a receiver accepts.
v = NIL
for _ in range(32):
    v = mp_set([v])
VALUES['depth-32-sets'] = v
VALUES['hostile-depth-33-sets'] = mp_array([v])


# --------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------

def frame(payload):
    return u32(len(payload)) + payload


def frame64(payload):
    return b'\xff\xff\xff\xff' + u64(len(payload)) + payload


LIMITS = [0, 1, 7, 64, 255, 4096, 65524, 65536, 200000, 1 << 20]
DEFAULT = LIMITS.index(1 << 20)


def op(kind, arg=0):
    return u8(kind | arg << 3)


# Every call once: bytes, bytes with a small maxlength, into a small buffer
# at an offset, into a large buffer, a value, poll, wait.
ALL_CALLS = [op(0), op(1, 2), op(2, 3 | 1 << 3), op(3), op(4), op(5), op(6)]
VALUE_CALLS = [op(4), op(4, 1), op(5), op(4)]


def frame_input(stream, script=b'\xf0', calls=None, limit=DEFAULT):
    calls = calls or ALL_CALLS
    assert 1 <= len(script) <= 16 and 1 <= len(calls) <= 16
    return (u8(limit) + u8((len(script) - 1) << 4 | (len(calls) - 1)) +
            script + b''.join(calls) + stream)


def frame_seeds():
    def seed(name, stream, **kw):
        write('frame', name, frame_input(stream, **kw))

    small = b''.join([frame(b''), frame(b'x'), frame(b'hello' * 10),
                      frame64(b'long header')])
    seed('frames', small)
    seed('frames-1-byte-reads', small, script=b'\x02')
    seed('frames-timeouts', small, script=b'\x00\x05\x00\x40')
    seed('frames-resets', small, script=b'\x01\x04\x30')
    values = b''.join(frame(v) for v in VALUES.values())
    seed('values', values, calls=VALUE_CALLS)
    seed('values-small-reads', values, script=b'\x03\x11', calls=VALUE_CALLS)
    seed('big-frame', frame(bytes(range(256)) * 274) + frame(b'after'),
         script=b'\xf0\x80\xf3')
    seed('big-frame-64', frame64(b'\x07' * 70000))
    seed('too-short-then-bytes', frame(b'0123456789' * 10) + frame(b'ok'),
         calls=[op(2, 1), op(0)])
    seed('offset-past-size', frame(b'x'), calls=[op(2, 1 << 3), op(0)])
    seed('eof-empty', b'')
    for n in (1, 2, 3):
        seed('truncated-header-%d' % n, b'\x00\x00\x00\x05'[:n])
    seed('truncated-payload', u32(10) + b'abc')
    seed('truncated-header64', b'\xff\xff\xff\xff\x00\x00')
    seed('truncated-payload64', frame64(b'abcdef')[:-2])
    seed('truncated-big', u32(100000) + b'\x00' * 5000)
    seed('negative-length-2', b'\xff\xff\xff\xfe' + b'abc')
    seed('negative-length-min', frame(b'ok') + b'\x80\x00\x00\x00')
    seed('huge64-all-ones', b'\xff' * 12 + b'abc')
    seed('huge64-2g', b'\xff\xff\xff\xff' + u64(1 << 31) + b'abc')
    seed('huge64-4g', b'\xff\xff\xff\xff' + u64(1 << 32) + b'abc')
    seed('too-big-for-limit', frame(b'z' * 100) + frame(b'a'),
         limit=LIMITS.index(64))
    seed('too-big-then-raise', frame(b'z' * 100),
         calls=[op(5), op(7, DEFAULT), op(0)], limit=LIMITS.index(64))
    seed('limit-zero', frame(b'') + frame(b'a'), limit=0)
    seed('maxlength', frame(b'y' * 80), calls=[op(1, 2), op(0)])
    seed('hostile-values',
         frame(VALUES['hostile-array32-huge']) +
         frame(VALUES['hostile-33-nested-arrays']) +
         frame(VALUES['badset-two-arrays']) + frame(b'\x01'),
         calls=VALUE_CALLS)


# --------------------------------------------------------------------------
# Handshake messages
# --------------------------------------------------------------------------

KEYS = [b'', b'secret key', bytes(range(1, 11)) + bytes(90), b'\x00\xff']
NONCE = bytes((i * 7 + 1) & 0xff for i in range(40))
OUR_CHALLENGE_BODY = b'{sha256}' + NONCE
DIGESTS = {'md5': hashlib.md5, 'sha256': hashlib.sha256,
           'sha384': hashlib.sha384, 'sha3_256': hashlib.sha3_256,
           'sha3_384': hashlib.sha3_384}


def mac(key, msg, name):
    return hmac.new(key, msg, DIGESTS[name]).digest()


def auth_seeds():
    def seed(name, data):
        write('auth', name, data)

    body = OUR_CHALLENGE_BODY
    for k, key in enumerate(KEYS):
        challenger = u8(k << 1)
        answerer = u8(1 | k << 1)
        # This side challenges: the peer answers in each form.
        for name in DIGESTS:
            resp = b'{%s}' % name.encode() + mac(key, body, name)
            seed('k%d-answer-%s' % (k, name), challenger + frame(resp))
        seed('k%d-answer-legacy-md5' % k,
             challenger + frame(mac(key, body, 'md5')))
        seed('k%d-answer-64bit-header' % k,
             challenger + frame64(b'{sha256}' + mac(key, body, 'sha256')))
        # The peer challenges, in Python 3.12+'s form and the legacy one.
        for name in ('sha256', 'md5', 'sha3_384'):
            chal = b'#CHALLENGE#{%s}' % name.encode() + bytes(range(40))
            seed('k%d-challenge-%s' % (k, name),
                 answerer + frame(chal) + frame(b'#WELCOME#'))
        seed('k%d-challenge-legacy' % k,
             answerer + frame(b'#CHALLENGE#' + bytes(range(20))) +
             frame(b'#WELCOME#'))
    c, a = u8(2), u8(3)
    chal = b'#CHALLENGE#{sha256}' + bytes(40)
    seed('answer-wrong-mac', c + frame(b'{sha256}' + bytes(32)))
    seed('answer-unknown-digest', c + frame(b'{sha1}' + bytes(20)))
    seed('answer-no-brace', c + frame(b'{sha256' + bytes(32)))
    seed('answer-failure', c + frame(b'#FAILURE#'))
    seed('answer-oversized', c + frame(bytes(257)))
    seed('answer-256', c + frame(b'{sha256}' + bytes(248)))
    seed('answer-bad-header', c + b'\xff\xff\xff\xfe')
    seed('answer-huge64', c + b'\xff' * 12)
    seed('answer-truncated', c + u32(40) + b'{sha256}')
    seed('answer-silent', c)
    seed('rand-fails', u8(0x80))
    seed('challenge-too-short', a + frame(b'#CHALLENGE#' + bytes(19)))
    seed('challenge-no-prefix', a + frame(b'#CHALLENGX#' + bytes(40)))
    seed('challenge-unknown-digest',
         a + frame(b'#CHALLENGE#{sha512}' + bytes(40)))
    seed('challenge-then-failure', a + frame(chal) + frame(b'#FAILURE#'))
    seed('challenge-then-eof', a + frame(chal))
    seed('challenge-then-truncated', a + frame(chal) + b'\x00\x00')
    seed('challenge-oversized', a + frame(b'#CHALLENGE#' + bytes(250)))
    seed('challenge-silent', a)


# --------------------------------------------------------------------------
# Format strings (the table in fuzz-unpackf.c)
# --------------------------------------------------------------------------

def unpackf_seeds():
    s = lambda *m: mp_set(list(m))
    cases = {
        0: [NIL, b'\x01'],
        1: [b'\xc3', NIL],
        2: [b'\xd2\x80\x00\x00\x00', b'\xce\x80\x00\x00\x00',
            b'\xd3\x80' + bytes(7)],
        3: [b'\xd3\x80' + bytes(7), b'\xcf\x80' + bytes(7)],
        4: [b'\xcf' + b'\xff' * 8, b'\xff'],
        5: [VALUES['float32'], VALUES['nan'], b'\x01'],
        6: [mp_str('hello'), VALUES['str-nul'], mp_str('x' * 70), b'\xc4\x00'],
        7: [b'\xa0', mp_str('abc')],
        8: [b'\xc4\x00', b'\xc4\x02\x01\x02', b'\xa0'],
        9: [VALUES['everything']],
        10: [b'\x90', b'\x80'],
        11: [mp_array([b'\x01', mp_str('a'), NIL]), mp_array([b'\x01'])],
        12: [mp_array([b'\xe0', b'\x01', b'\xcb' + struct.pack('>d', 2.5),
                       b'\xc2', NIL, b'\xc4\x01\x00', mp_str('q'),
                       mp_str('str')])],
        13: [mp_map([(mp_str('a'), b'\x01'), (mp_str('b'), mp_str('x'))]),
             mp_map([(mp_str('b'), mp_str('x'))])],
        14: [mp_map([(mp_str('a'), b'\x01'), (mp_str(''), b'\xc4\x00'),
                     (mp_str('k'), b'\xc3')]),
             mp_map([(mp_str('z'), b'\x01')]), mp_map([(b'\x01', b'\x02')]),
             VALUES['map-600'], VALUES['map-odd-keys']],
        15: [mp_map([(mp_str('a'), mp_array([b'\x01'])),
                     (mp_str('b'), s(b'\x01', b'\x02'))])],
        16: [s(), s(b'\x01')],
        17: [s(b'\x01', b'\x02'), s(b'\x01')],
        18: [s(mp_str('m'), b'\x01')],
        19: [nested_arrays(8, b'\x90'), nested_arrays(7, b'\x90')],
        20: [mp_map([(mp_str('a'), mp_map([(mp_str('b'), mp_map([
            (mp_str('k'), NIL)]))]))])],
        21: [mp_array([s(mp_array([b'\x01']))])],
        22: [mp_array([NIL, mp_map([(mp_str(''), NIL)])])],
        23: [s(mp_map([(mp_str('a'), b'\x01')]), b'\x90', s())],
        24: [mp_map([(mp_str('a'), VALUES['float64']), (mp_str('b'), b'\x01'),
                     (mp_str(''), b'\xff'), (mp_str('k'), mp_str('v'))])],
        25: [VALUES['depth-32'][:-1] + b'\x90', VALUES['depth-32']],
        26: [mp_map([(mp_str('k'), s(s(s(s()))))])],
    }
    nformats = 27
    for k, values in cases.items():
        for i, v in enumerate(values):
            write('unpackf', 'f%02d-%d' % (k, i), u8(k) + b'\x00' + v)
            if k == 6:
                write('unpackf', 'f%02d-%d-size8' % (k, i),
                      u8(k + nformats) + b'\x00' + v)
    write('unpackf', 'pick-item',
          u8(2) + b'\x02' + mp_array([mp_str('a'), b'\x05']))
    write('unpackf', 'pick-key',
          u8(7) + b'\x02' + mp_map([(mp_str('key'), b'\x05')]))


# --------------------------------------------------------------------------
# JSON lines
# --------------------------------------------------------------------------

def encode_seeds():
    lines = {
        'scalars': b'null\ntrue\nfalse\n0\n-1\n1.5\n"s"\n',
        'ints': b'9223372036854775807\n9223372036854775808\n'
                b'18446744073709551615\n-9223372036854775808\n'
                b'18446744073709551616\n',
        'big-in-array': b'[18446744073709551615, 1, '
                        b'{"a": 9223372036854775808}]',
        'floats': b'1e300\n-0.0\n0.1\n1e2\n',
        'strings': b'"\\u0000"\n"\\u00e9"\n"\\ud83d\\ude00"\n""\n',
        'containers': b'[]\n{}\n{"a":1,"b":[1,2]}\n[[[]]]\n',
        'forms': b'{"$float":"nan"}\n{"$float":"-inf"}\n{"$str":"/w=="}\n'
                 b'{"$bytes":"AQID"}\n{"$bytes":""}\n{"$set":[1,"a",[2]]}\n'
                 b'{"$map":[[1,2],["a",3]]}\n{"$map":[["a",1],["a",2]]}\n'
                 b'{"$ext":[5,"AQ=="]}\n{"$ext":[-128,""]}\n',
        'bad-forms': b'{"$ext":[83,""]}\n{"$foo":1}\n{"$float":"NaN"}\n'
                     b'{"$str":"abc"}\n{"$ext":[18446744073709551615,""]}\n'
                     b'{"$map":[[1]]}\n{"$set":1}\n',
        'set-in-set': b'{"$set":[{"$set":[]},{"$set":[1]}]}',
        'depth-32': b'[' * 32 + b']' * 32,
        'depth-33': b'[' * 33 + b']' * 33,
        'depth-32-sets': b'{"$set":' * 32 + b'[]' + b'}' * 32,
        'depth-32-maps': b'{"a":' * 31 + b'{}' + b'}' * 31,
        'bad-json': b'[1,\n{"a" 1}\n\x00\n"\xff"\n',
        'duplicate-keys': b'{"a":1,"a":2}',
        'blank-lines': b'\n \t\r\n1\r\n',
        'two-values': b'1 2',
        'floats-short': b'[0e0,1e0,2e0]\n0e0\n[1E+2,-0e-0]',
        'object-40-keys': b'{' + b','.join(b'"k%d":%d' % (i, i)
                                           for i in range(40)) + b'}',
        'string-escapes': b'"' + b'\\n\\t\\u0001\\"\\\\' * 3000 + b'"',
        'bytes-5000': b'{"$bytes":"' + b'AAEC' * 1700 + b'"}',
    }
    for name, data in lines.items():
        write('cli-encode', name, data)


def cli_decode_seeds():
    """Values for the JSON writer of `mpconn decode` (tools/json-out.c):
    maps past the 16 keys checked pair by pair, text across its 8 KiB
    buffer and base64 across its 3072-byte chunks, sets met in keys."""
    def keys(n):
        return [mp_str('k%d' % i) for i in range(n)]
    k17, k300 = keys(17), keys(300)
    escapes = bytes([0x01, 0x22, 0x5c, 0x0a, 0x41, 0xc3, 0xa9]) * 1300
    values = {
        'map-17-keys': mp_map([(k, b'\x01') for k in k17]),
        'map-17-keys-dup-last': mp_map([(k, NIL) for k in k17 + k17[:1]]),
        'map-40-keys-dup-middle': mp_map([(k, NIL) for k in
                                          keys(40) + [mp_str('k20')]]),
        'map-300-keys': mp_map([(k, mp_int(i)) for i, k in enumerate(k300)]),
        'map-17-keys-one-not-utf8': mp_map([(k, NIL) for k in k17[:16]] +
                                           [(b'\xa1\xff', NIL)]),
        'map-17-keys-one-nul': mp_map([(k, NIL) for k in k17[:16]] +
                                      [(mp_str(b'k\x00'), NIL)]),
        'map-20-prefixes': mp_map([(mp_str('a' * i), NIL)
                                   for i in range(20)]),
        'map-17-empty-keys': mp_map([(mp_str(''), NIL)] * 17),
        'str-escapes-9k': mp_str(escapes),
        'str-not-utf8-4k': mp_str(b'\xff' * 4000),
        'bin-3073': b'\xc5' + u16(3073) + bytes(range(256)) * 12 + b'\x01',
        'bin-6144': b'\xc5' + u16(6144) + b'\x07' * 6144,
        'ext-4000': mp_ext(9, b'\x02' * 4000),
        'sets-in-keys': mp_map([(mp_set([b'\x01']), mp_set([mp_set([])])),
                                (mp_set([]), b'\x02')]),
        'sets-many': mp_array([mp_set([mp_int(i), mp_set([mp_int(i)])])
                               for i in range(100)]),
        'floats': mp_array([b'\xcb' + struct.pack('>d', d) for d in (
            1e-5, 1e-4, 1e16, 1e17, 1e300, 5e-324, -0.0, 123456789.0,
            0.1, 2.5, 1.7976931348623157e308)]),
    }
    for name, v in values.items():
        write('cli-decode', name, v)


def main():
    for name, v in VALUES.items():
        write('value', name, v)
        write('cli-decode', name, v)
    frame_seeds()
    auth_seeds()
    unpackf_seeds()
    encode_seeds()
    cli_decode_seeds()


if __name__ == '__main__':
    main()
