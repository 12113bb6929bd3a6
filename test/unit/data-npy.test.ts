import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { encodeNpy, parseNpy, parseNpyHeader } from '../../src/core/data/npy';
import { DataType } from '../../src/core/onnx/proto';
import { isQuantLensError } from '../../src/core/errors';
import { halfToFloat, floatToHalf } from '../../src/core/onnx/tensor-data';

/** Builds npy bytes by hand, as numpy writes them (header padded with spaces to 64 bytes, newline at the end). */
function npyBytes(header: string, data: Uint8Array, version = 1): Uint8Array {
  const pre = version === 1 ? 10 : 12;
  const total = Math.ceil((pre + header.length + 1) / 64) * 64;
  const h = header.padEnd(total - pre - 1, ' ') + '\n';
  const out = new Uint8Array(total + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, h.length, true); else dv.setUint32(8, h.length, true);
  out.set(Buffer.from(h, 'latin1'), pre);
  out.set(data, total);
  return out;
}
const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

test('parses a v1 float32 file written the way numpy writes it', () => {
  const values = Float32Array.from([1.5, -2, 3.25, 0, 7, -8]);
  const t = parseNpy(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", bytesOf(values)), 'a.npy');
  assert.equal(t.type, DataType.FLOAT);
  assert.deepEqual(t.dims, [2, 3]);
  assert.deepEqual(Array.from(t.data as Float32Array), Array.from(values));
});

test('parses v2 and v3 headers (32-bit header length)', () => {
  const values = Int32Array.from([5, -6, 7]);
  for (const v of [2, 3]) {
    const t = parseNpy(npyBytes("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", bytesOf(values), v), 'b.npy');
    assert.equal(t.type, DataType.INT32);
    assert.deepEqual(t.dims, [3]);
    assert.deepEqual(Array.from(t.data as Int32Array), [5, -6, 7]);
    assert.deepEqual(parseNpyHeader(npyBytes("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", bytesOf(values), v), 'b.npy').version, [v, 0]);
  }
});

test('reads every supported dtype with its values', () => {
  const cases: [string, ArrayBufferView, DataType, number[]][] = [
    ['<f8', Float64Array.from([0.1, -2.5]), DataType.DOUBLE, [0.1, -2.5]],
    ['<i8', BigInt64Array.from([3n, -4n]), DataType.INT64, [3, -4]],
    ['|u1', Uint8Array.from([0, 255]), DataType.UINT8, [0, 255]],
    ['|i1', Int8Array.from([-128, 127]), DataType.INT8, [-128, 127]],
    ['<f2', Uint16Array.from([floatToHalf(1.5), floatToHalf(-0.25)]), DataType.FLOAT16, [1.5, -0.25]],
  ];
  for (const [descr, arr, type, expect] of cases) {
    const t = parseNpy(npyBytes(`{'descr': '${descr}', 'fortran_order': False, 'shape': (2,), }`, bytesOf(arr)), 'c.npy');
    assert.equal(t.type, type, descr);
    const got = Array.from(t.data as ArrayLike<number | bigint>, (v) => (type === DataType.FLOAT16 ? halfToFloat(Number(v)) : Number(v)));
    assert.deepEqual(got, expect, descr);
  }
});

test('a scalar (shape ()) and an empty array parse', () => {
  const s = parseNpy(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", bytesOf(Float32Array.from([9]))), 's.npy');
  assert.deepEqual(s.dims, []);
  assert.equal((s.data as Float32Array)[0], 9);
  const e = parseNpy(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", new Uint8Array(0)), 'e.npy');
  assert.equal(e.data.length, 0);
});

test('encodeNpy round-trips through the parser (v1 and forced v2)', () => {
  const t = { type: DataType.FLOAT, dims: [2, 2, 2], data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]) };
  for (const v of [1, 2] as const) {
    const bytes = encodeNpy(t, v);
    assert.equal((bytes.byteLength - t.data.byteLength) % 64, 0);
    const back = parseNpy(bytes, 'rt.npy');
    assert.deepEqual(back.dims, t.dims);
    assert.deepEqual(Array.from(back.data as Float32Array), Array.from(t.data));
  }
});

function rejects(bytes: Uint8Array, pattern: RegExp, code: string) {
  assert.throws(() => parseNpy(bytes, 'bad.npy'), (e: unknown) => {
    assert.ok(isQuantLensError(e), `expected QuantLensError, got ${e}`);
    assert.equal(e.code, code);
    assert.match(e.message, /^bad\.npy: /);
    assert.match(e.message, pattern);
    return true;
  });
}

test('bad magic, fortran order, big-endian, unknown dtype and truncated data give clear errors', () => {
  const good = npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", new Uint8Array(16));
  const badMagic = good.slice(); badMagic[1] = 0x58;
  rejects(badMagic, /magic/, 'data-corrupt');
  rejects(Buffer.from('hello world, not numpy'), /magic/, 'data-corrupt');
  rejects(npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", new Uint8Array(16)), /Fortran order/, 'data-unsupported');
  rejects(npyBytes("{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", new Uint8Array(16)), /big-endian/, 'data-unsupported');
  rejects(npyBytes("{'descr': '<c8', 'fortran_order': False, 'shape': (4,), }", new Uint8Array(32)), /dtype '<c8'/, 'data-unsupported');
  rejects(good.subarray(0, good.byteLength - 3), /truncated/, 'data-corrupt');
  rejects(good.subarray(0, 40), /header is truncated/, 'data-corrupt');
  const v9 = good.slice(); v9[6] = 9;
  rejects(v9, /version 9/, 'data-unsupported');
  rejects(npyBytes("{'shape': (4,), }", new Uint8Array(16)), /not a valid dictionary/, 'data-corrupt');
});

test('files written by NumPy itself (test/fixtures/npy) parse to the values NumPy wrote', () => {
  const read = (f: string) => parseNpy(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'npy', f)), f);
  const f4 = read('f4_2x3x4.npy');
  assert.equal(f4.type, DataType.FLOAT);
  assert.deepEqual(f4.dims, [2, 3, 4]);
  assert.deepEqual(Array.from(f4.data as Float32Array), Array.from({ length: 24 }, (_, i) => i * 0.5));
  const f8 = read('f8_linspace7.npy');
  assert.deepEqual(Array.from(f8.data as Float64Array).map((v) => +v.toFixed(12)), [-1, -2 / 3, -1 / 3, 0, 1 / 3, 2 / 3, 1].map((v) => +v.toFixed(12)));
  assert.deepEqual(Array.from(read('i8_2x2.npy').data as BigInt64Array), [1n, -2n, 3n, -4n]);
  assert.deepEqual(Array.from(read('f2_3.npy').data as Uint16Array, halfToFloat), [1.5, -0.25, 65504]);
  for (const v of ['i4_v2.npy', 'i4_v3.npy']) {
    const t = read(v);
    assert.deepEqual([t.type, t.dims, Array.from(t.data as Int32Array)], [DataType.INT32, [5], [0, 1, 2, 3, 4]], v);
  }
  assert.throws(() => read('fortran_2x3.npy'), /fortran_2x3\.npy: .*Fortran order/);
});
