#!/usr/bin/env python3
"""Write the seed corpora of tests/fuzz/corpus/ from scratch.

Every seed is built here from the specs (shared/spec/index_sstable.md,
bundle.md, v1_format.md, checkpoint_state.md, slices_and_partitions.md §2);
none is copied from a fixture. The V2 seeds point into the fixed data shard
of tests/fuzz/fuzz_bundle.c (a two-string tensor at offset 0, then the
pattern i % 251 up to 4096 bytes), so their CRCs match and reads succeed.

Usage: scripts/gen-fuzz-corpus.py [CORPUS_DIR]   (default tests/fuzz/corpus)
Inputs the fuzzer found are kept in the same folders under other names
(crash-*, found-*); this script only rewrites its own seed-* files.
"""
import os
import struct
import sys

# ---- CRC-32C (Castagnoli) and TF's mask ----
_T = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _T.append(_c)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _T[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def mask(c):
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# ---- protobuf wire format ----
def varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def f_varint(num, v):
    return varint(num << 3) + varint(v)


def f_bytes(num, b):
    return varint(num << 3 | 2) + varint(len(b)) + b


def f_fixed32(num, v):
    return varint(num << 3 | 5) + struct.pack('<I', v)


def shape(dims):
    return b''.join(f_bytes(2, f_varint(1, d) if d else b'') for d in dims)


def slice_proto(extents):
    """extents: list of (start, length) or None for a full dimension."""
    out = b''
    for e in extents:
        out += f_bytes(1, b'' if e is None else
                       (f_varint(1, e[0]) if e[0] else b'') + f_varint(2, e[1]))
    return out


# ---- OrderedCode slice keys (slices_and_partitions.md §2) ----
def oc_num(v):
    b = v.to_bytes(8, 'big').lstrip(b'\0')
    return bytes([len(b)]) + b


def oc_string(s):
    out = bytearray()
    for c in s:
        out += {0: b'\x00\xff', 0xFF: b'\xff\x00'}.get(c, bytes([c]))
    return bytes(out) + b'\x00\x01'


_H = [(0, 0), (0x80, 0), (0xC0, 0), (0xE0, 0), (0xF0, 0), (0xF8, 0), (0xFC, 0),
      (0xFE, 0), (0xFF, 0), (0xFF, 0x80), (0xFF, 0xC0)]


def oc_signed(v):
    x = v if v >= 0 else ~v
    if x < 64:
        return bytes([(0x80 ^ v) & 0xFF])
    bits = x.bit_length()
    n = 10 if bits >= 63 else (bits - 7) // 7 + 2
    buf = bytearray((b'\xff\xff' if v < 0 else b'\0\0') +
                    (v & ((1 << 64) - 1)).to_bytes(8, 'big'))
    b = buf[10 - n:]
    b[0] ^= _H[n][0]
    b[1] ^= _H[n][1]
    return bytes(b)


def slice_key(name, extents):
    out = oc_num(0) + oc_string(name) + oc_num(len(extents))
    for e in extents:
        s, l = (0, -1) if e is None else e
        out += oc_signed(s) + oc_signed(l)
    return out


# ---- snappy (literals only: a valid stream the decoder must accept) ----
def snappy_literal(data):
    out = bytearray(varint(len(data)))
    for i in range(0, len(data), 60):
        chunk = data[i:i + 60]
        out.append((len(chunk) - 1) << 2)
        out += chunk
    return bytes(out)


# ---- the table (index_sstable.md) ----
def block(entries, restart_interval=16):
    out = bytearray()
    restarts = []
    prev = b''
    for i, (k, v) in enumerate(entries):
        if i % restart_interval == 0:
            restarts.append(len(out))
            shared = 0
        else:
            shared = 0
            while shared < min(len(prev), len(k)) and prev[shared] == k[shared]:
                shared += 1
        out += varint(shared) + varint(len(k) - shared) + varint(len(v))
        out += k[shared:] + v
        prev = k
    if not restarts:
        restarts = [0]
    for r in restarts:
        out += struct.pack('<I', r)
    out += struct.pack('<I', len(restarts))
    return bytes(out)


def table(entries, block_entries=1000, snappy=False):
    f = bytearray()

    def put(raw, compress):
        off = len(f)
        body, typ = (snappy_literal(raw), 1) if compress else (raw, 0)
        f.extend(body)
        f.append(typ)
        f.extend(struct.pack('<I', mask(crc32c(body + bytes([typ])))))
        return varint(off) + varint(len(body))

    index = []
    for i in range(0, len(entries), block_entries):
        chunk = entries[i:i + block_entries]
        index.append((chunk[-1][0], put(block(chunk), snappy)))
    meta = put(block([]), False)
    idx = put(block(index, 1), snappy)
    footer = (meta + idx).ljust(40, b'\0') + struct.pack('<Q', 0xDB4775248B80FB57)
    return bytes(f) + footer


# ---- V2 bundles over fuzz_bundle.c's data shard ----
DATA_SIZE = 4096


def data_shard():
    d = bytearray(i % 251 for i in range(DATA_SIZE))
    lens = struct.pack('<II', 2, 3)
    d[0:11] = bytes([2, 3]) + struct.pack('<I', mask(crc32c(lens))) + b'abcde'
    return bytes(d)


SHARD = data_shard()
STRINGS_CRC = mask(crc32c(struct.pack('<II', 2, 3) + SHARD[2:11]))

DT = dict(float=1, double=2, int32=3, uint8=4, int16=5, int8=6, string=7,
          complex64=8, int64=9, bool=10, qint8=11, quint8=12, qint32=13,
          bfloat16=14, qint16=15, quint16=16, uint16=17, complex128=18,
          half=19, resource=20, variant=21, uint32=22, uint64=23)
SIZE = dict(float=4, double=8, int32=4, uint8=1, int16=2, int8=1, complex64=8,
            int64=8, bool=1, qint8=1, quint8=1, qint32=4, bfloat16=2,
            qint16=2, quint16=2, uint16=2, complex128=16, half=2, uint32=4,
            uint64=8)


def header(num_shards=1):
    return f_varint(1, num_shards) + f_bytes(3, f_varint(1, 1))


def entry(dtype, dims, offset, size, crc=None, slices=(), shard=0):
    if crc is None:
        crc = mask(crc32c(SHARD[offset:offset + size]))
    out = f_varint(1, DT[dtype]) + f_bytes(2, shape(dims))
    if shard:
        out += f_varint(3, shard)
    if offset:
        out += f_varint(4, offset)
    if size:
        out += f_varint(5, size)
    out += f_fixed32(6, crc)
    for s in slices:
        out += f_bytes(7, slice_proto(s))
    return out


def numel(dims):
    n = 1
    for d in dims:
        n *= d
    return n


class Bundle:
    """Lays tensors out in the shard from offset 16 on."""

    def __init__(self):
        self.entries = {b'': header()}
        self.at = 16

    def take(self, n):
        off = self.at
        self.at += n
        assert self.at <= DATA_SIZE
        return off

    def tensor(self, name, dtype, dims):
        size = numel(dims) * SIZE[dtype]
        self.entries[name] = entry(dtype, dims, self.take(size), size)

    def strings(self, name):
        self.entries[name] = entry('string', [2], 0, 11, crc=STRINGS_CRC)

    def partitioned(self, name, dtype, dims, slices):
        self.entries[name] = entry(dtype, dims, 0, 0, crc=0, slices=slices)
        for s in slices:
            sd = [d if e is None else e[1] for d, e in zip(dims, s)]
            size = numel(sd) * SIZE[dtype]
            self.entries[slice_key(name, s)] = entry(dtype, sd, self.take(size), size)

    def build(self, **kw):
        return table(sorted(self.entries.items()), **kw)

    def write(self, prefix):
        """PREFIX.index and the shard: a checkpoint for tests."""
        with open(prefix + ".index", "wb") as f:
            f.write(self.build())
        with open(prefix + ".data-00000-of-00001", "wb") as f:
            f.write(SHARD)


def v2_seeds():
    seeds = {}
    b = Bundle()
    seeds['scalar'] = (b.tensor(b'w', 'float', []), b.build())[1]

    b = Bundle()
    for dt in SIZE:
        b.tensor(dt.encode() + b'/v', dt, [2, 3])
    b.strings(b'names')
    b.tensor(b'empty', 'float', [0, 3])
    seeds['all_dtypes'] = b.build()
    seeds['all_dtypes_small_blocks'] = b.build(block_entries=3)
    seeds['all_dtypes_snappy'] = b.build(block_entries=5, snappy=True)

    b = Bundle()
    b.partitioned(b'part', 'float', [4, 2], [[(0, 2), None], [(2, 2), None]])
    b.partitioned(b'part3', 'int64', [3, 4], [[(0, 1), (0, 4)], [(1, 2), (0, 2)],
                                             [(1, 2), (2, 2)]])
    b.tensor(b'plain', 'double', [3])
    seeds['partitioned'] = b.build()

    b = Bundle()
    b.partitioned(b'gap', 'float', [4, 2], [[(0, 2), None]])
    seeds['partitioned_gap'] = b.build()

    seeds['header_only'] = table([(b'', header())])
    seeds['no_shards'] = table([(b'', header(0))])
    b = Bundle()
    b.strings(b'names')
    b.tensor(b'rank4', 'half', [1, 2, 1, 3])
    seeds['strings'] = b.build()
    return seeds


# ---- V1 files (v1_format.md) ----
def tensor_proto(dtype, values=None, content=None):
    out = f_varint(1, DT[dtype])
    if content is not None:
        return out + f_bytes(4, content)
    field, pack = {
        'float': (5, lambda v: struct.pack('<f', v)),
        'double': (6, lambda v: struct.pack('<d', v)),
        'int32': (7, varint), 'int16': (7, varint), 'int8': (7, varint),
        'uint8': (7, varint), 'qint32': (7, varint),
        'complex64': (9, lambda v: struct.pack('<f', v)),
        'int64': (10, varint), 'bool': (11, varint),
        'complex128': (12, lambda v: struct.pack('<d', v)),
        'half': (13, varint),
    }.get(dtype, (None, None))
    if dtype == 'string':
        return out + b''.join(f_bytes(8, v) for v in values)
    return out + f_bytes(field, b''.join(pack(v) for v in values))


def v1_file(tensors, versions=True):
    """tensors: (name, dtype, dims, [(slice extents or None, TensorProto)])."""
    meta = b''
    records = []
    for name, dtype, dims, pieces in tensors:
        m = f_bytes(1, name) + f_bytes(2, shape(dims)) + f_varint(3, DT[dtype])
        for ext, tp in pieces:
            m += f_bytes(4, slice_proto(ext if ext is not None else [None] * len(dims)))
            key_ext = ext if ext is not None else [None] * len(dims)
            rec = f_bytes(1, name) + f_bytes(2, slice_proto(key_ext)) + f_bytes(3, tp)
            records.append((slice_key(name, key_ext), f_bytes(2, rec)))
        meta += f_bytes(1, m)
    if versions:
        meta += f_bytes(2, f_varint(1, 26))
    return table([(b'', f_bytes(1, meta))] + sorted(records))


def v1_seeds():
    seeds = {}
    seeds['scalars'] = v1_file([
        (b'Variable', 'float', [], [(None, tensor_proto('float', [0.5]))]),
        (b'Variable_1', 'float', [], [(None, tensor_proto('float', [2.0]))]),
    ])
    seeds['dtypes'] = v1_file([
        (b'd', 'double', [2], [(None, tensor_proto('double', [1.0, -2.5]))]),
        (b'i32', 'int32', [2, 2], [(None, tensor_proto('int32', [1, 2, 3, 4]))]),
        (b'i64', 'int64', [3], [(None, tensor_proto('int64', [1, 1 << 40, 3]))]),
        (b'i8', 'int8', [2], [(None, tensor_proto('int8', [7, 255]))]),
        (b'b', 'bool', [3], [(None, tensor_proto('bool', [1, 0, 1]))]),
        (b'h', 'half', [2], [(None, tensor_proto('half', [0x3C00, 0x4000]))]),
        (b'c64', 'complex64', [1], [(None, tensor_proto('complex64', [1.0, 2.0]))]),
        (b'c128', 'complex128', [1], [(None, tensor_proto('complex128', [1.0, 2.0]))]),
        (b's', 'string', [2], [(None, tensor_proto('string', [b'ab', b'cde']))]),
        (b'u16', 'uint16', [2], [(None, tensor_proto('uint16', content=b'\1\0\2\0'))]),
        (b'f', 'float', [2, 3], [(None, tensor_proto('float', content=bytes(range(24))))]),
    ])
    seeds['sliced'] = v1_file([
        (b'part', 'float', [4, 2], [
            ([(0, 2), None], tensor_proto('float', [1, 2, 3, 4])),
            ([(2, 2), None], tensor_proto('float', [5, 6, 7, 8])),
        ]),
        (b'gap', 'int32', [3], [([(0, 1)], tensor_proto('int32', [9]))]),
    ])
    seeds['empty_meta'] = v1_file([], versions=False)
    return seeds


STATE_SEEDS = {
    'plain': b'model_checkpoint_path: "model.ckpt-1000"\n'
             b'all_model_checkpoint_paths: "model.ckpt-500"\n'
             b'all_model_checkpoint_paths: "model.ckpt-1000"\n',
    'timestamps': b'# written by tf.train.CheckpointManager\n'
                  b'model_checkpoint_path: \'ckpt-3\'\n'
                  b'all_model_checkpoint_timestamps: 1589000000.5\n'
                  b'last_preserved_timestamp: 1.589e+09\n',
    'escapes': b'model_checkpoint_path: "a\\tb\\x41\\101\\\\\\"c" \'d\' "e"\n',
    'absolute': b'model_checkpoint_path:"/tmp/run/variables/variables"',
    'empty_path': b'model_checkpoint_path: ""\n',
    'unknown_field': b'model_checkpoint_path: "x"\nfoo: 1\n',
}

SLICEKEY_SEEDS = {
    'w_rows01': bytes.fromhex('00770001010280828082'),
    'w_row2': bytes.fromhex('00770001010282818082'),
    'w_full1': bytes.fromhex('0077000101028082807f'),
    'v_full': bytes.fromhex('007600010101807f'),
    's_rank0': bytes.fromhex('0073000100'),
    'emb': bytes.fromhex('00656d6200010102c064b2807f'),
    'escaped_name': slice_key(b'a\x00b\xffc', [(8192, 1 << 40), (-65, -100)]),
    'big': slice_key(b'x', [((1 << 62), (1 << 63) - 1), (-(1 << 63), 1 << 55)]),
}


# --map values (up to the first NUL) and --map-file JSON (the whole input),
# over the fixed tensors of tests/fuzz/fuzz_resolve.c
MAP_SEEDS = {
    'scope': b'a/=new/',
    'identity': b'/=/',
    'one_var': b'a/w=x/w',
    'last_eq': b'a=b/=c/',
    'object': b'{"a/": "new/", "step": "global_step"}',
    'pairs': b'[["a/w", "x/w"], ["a/b", "x/b"]]',
    'list_value': b'{"a/emb": ["e/part_0", "e/part_1"]}',
    'root_map': b'{"/": "scope/"}',
    'arg_then_file': b'a/=b/\x00{"a/w": "q"}',
    'dup_key': b'{"a/": "x/", "a/": "y/"}',
    'bad_value': b'{"a/": 3}',
}

TARGETS_SEEDS = {
    'plain': b'{"variables": [{"name": "a/w", "dtype": "float32", "shape": [4, 3]}]}',
    'parts': b'{"variables": [{"name": "a/w", "dtype": "bfloat16", "shape": [4, 3], '
             b'"partitions": [2, 1]}, {"name": "a/b", "dtype": "float32", "shape": [3], '
             b'"partitions": [3]}]}',
    'cols': b'{"variables": [{"name": "new/w", "dtype": "float32", "shape": [4, 3], '
            b'"partitions": [1, 3]}]}',
    'unknown': b'{"variables": [{"name": "a/w", "dtype": "float32", "shape": null}, '
               b'{"name": "x", "dtype": "bfloat16", "shape": [-1]}]}',
    'array': b'[{"name": "step", "dtype": "int64", "shape": []}]',
    'strings': b'{"variables": [{"name": "s", "dtype": "string", "shape": [2]}]}',
    'huge': b'{"variables": [{"name": "a/w", "dtype": "float32", '
            b'"shape": [9223372036854775807, 2], "partitions": [4, 1]}]}',
    'perm': b'{"variables": [{"name": "new/w", "dtype": "float32", "shape": [3, 4], '
            b'"perm": [1, 0]}, {"name": "new/b", "dtype": "float32", "shape": [3], '
            b'"perm": [0]}]}',
    'perm-parts': b'{"variables": [{"name": "new/w", "dtype": "bfloat16", "shape": [3, 4], '
                  b'"partitions": [1, 2], "perm": [1, 0]}, {"name": "new/emb/part_0", '
                  b'"dtype": "float32", "shape": [4, 2], "perm": [1, 0]}]}',
    'perm-bad': b'[{"name": "new/w", "dtype": "float32", "shape": [4, 3], "perm": [1, 0]}, '
                b'{"name": "s", "dtype": "string", "shape": [2], "perm": [0]}, '
                b'{"name": "x", "dtype": "float32", "shape": null, "perm": [7, 7]}]',
}

# writer round trip: count, then per tensor kind, rank, dims, name, data
ROUNDTRIP_SEEDS = {
    'empty': b'\x00',
    'one_float': b'\x01\x00\x02\x02\x03\x02abcdefghijklmnopqrstuvwx',
    'sliced': b'\x02\x80\x02\x04\x03\x01w' + bytes(range(48)) +
              b'\x10\x01\x03\x00s\x02hi\x00\x03abc',
    'all_kinds': bytes([7]) + b''.join(bytes([k, k % 4, 2, 3, 1, 2, 0x61 + k]) +
                                       bytes(range(96)) for k in range(7)),
    'dup_names': b'\x03\x00\x00\x00n\x01\x00\x00n\x02\x00\x00n',
}


# ---- TrackableObjectGraph (spec protos.md; nodes = 1) ----
def og_ref(node_id, name):
    return f_varint(1, node_id) + f_bytes(2, name)


def og_attr(name, full, key, optional=False):
    return (f_bytes(1, name) + f_bytes(2, full) + f_bytes(3, key) +
            (f_varint(4, 1) if optional else b''))


def og_slot(var, name, slot):
    return f_varint(1, var) + f_bytes(2, name) + f_varint(3, slot)


def og_node(children=(), attrs=(), slots=(), extra=b''):
    return (b''.join(f_bytes(1, c) for c in children) +
            b''.join(f_bytes(2, a) for a in attrs) +
            b''.join(f_bytes(3, x) for x in slots) + extra)


def og_graph(nodes, extra=b''):
    return b''.join(f_bytes(1, n) for n in nodes) + extra


VV = b'/.ATTRIBUTES/VARIABLE_VALUE'
OBJGRAPH_SEEDS = {
    'empty': b'',
    # a cycle: child -> parent is the root (tensorflow/cc CyclicModule's shape)
    'cycle': og_graph([
        og_node([og_ref(1, b'child'), og_ref(2, b'signatures')]),
        og_node([og_ref(0, b'parent'), og_ref(3, b'my_variable')]),
        og_node(),
        og_node(attrs=[og_attr(b'VARIABLE_VALUE', b'MyVariable', b'child/my_variable' + VV)]),
    ]),
    'slots': og_graph([
        og_node([og_ref(1, b'w'), og_ref(2, b'optimizer')],
                extra=f_bytes(5, f_varint(1, 1))),
        og_node(attrs=[og_attr(b'VARIABLE_VALUE', b'w', b'w' + VV)]),
        og_node([og_ref(4, b'iter')], slots=[og_slot(1, b'm', 3)],
                extra=f_bytes(4, f_bytes(1, b'saver') + f_bytes(2, b'obj')) +
                f_bytes(4, f_bytes(2, b'obj2')) + f_bytes(5, b'')),
        og_node(attrs=[og_attr(b'VARIABLE_VALUE', b'w/m',
                               b'w/.OPTIMIZER_SLOT/optimizer/m' + VV, True)]),
        og_node(attrs=[og_attr(b'VARIABLE_VALUE', b'iter', b'optimizer/iter' + VV),
                       og_attr(b'OBJECT_CONFIG_JSON', b'', b'optimizer/.ATTRIBUTES/x')]),
    ]),
    # unknown fields and known ones of another wire type: skipped, as TF does
    'unknown_fields': og_graph([
        og_node([og_ref(1, b'h\xc3\xa9')],
                extra=f_varint(1, 7) + f_fixed32(9, 1) + f_bytes(12, b'zz')),
        og_node(),
    ], extra=f_varint(2, 5) + f_fixed32(3, 9)),
    'many_nodes': og_graph([og_node([og_ref((k + 1) % 150, b'n%d' % k)])
                            for k in range(150)]),
    'bad_ref': og_graph([og_node([og_ref(7, b'x')]), og_node(slots=[og_slot(0, b'm', -1)])]),
    'not_utf8': og_graph([og_node([og_ref(0, b'\xff')])]),
    'nul_name': og_graph([og_node([og_ref(0, b'a\x00b')])]),
    'truncated': og_graph([og_node([og_ref(0, b'abc')])])[:-2],
}


def write(dirpath, name, data):
    os.makedirs(dirpath, exist_ok=True)
    with open(os.path.join(dirpath, 'seed-' + name), 'wb') as f:
        f.write(data)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'fuzz', 'corpus')
    v2 = v2_seeds()
    v1 = v1_seeds()
    for n, d in v2.items():
        write(os.path.join(root, 'bundle'), n, d)
        write(os.path.join(root, 'sstable'), 'v2_' + n, d)
    for n, d in v1.items():
        write(os.path.join(root, 'v1'), n, d)
        write(os.path.join(root, 'sstable'), 'v1_' + n, d)
    for n, d in STATE_SEEDS.items():
        write(os.path.join(root, 'state'), n, d)
    for n, d in SLICEKEY_SEEDS.items():
        write(os.path.join(root, 'slicekey'), n, d)
    for folder, seeds in (('map', MAP_SEEDS), ('targets', TARGETS_SEEDS),
                          ('roundtrip', ROUNDTRIP_SEEDS), ('objgraph', OBJGRAPH_SEEDS)):
        for n, d in seeds.items():
            write(os.path.join(root, folder), n, d)


if __name__ == '__main__':
    main()
