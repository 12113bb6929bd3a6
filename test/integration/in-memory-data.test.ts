/** Sessions whose big initializers reach ONNX Runtime as in-memory external data (onnx/in-memory-data.ts, runtime/proto-session.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { encodeForRuntime, IN_MEMORY_MIN_BYTES } from '../../src/core/onnx/in-memory-data';
import { DataType, decodeModelProto, encodeModelProto, ModelProto } from '../../src/core/onnx/proto';
import { toFloat32 } from '../../src/core/onnx/tensor-data';
import { InferenceBackend, SessionOptions } from '../../src/core/runtime/backend';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { createProtoSession } from '../../src/core/runtime/proto-session';
import { SharedSessions } from '../../src/core/quant/algorithms/shared-sessions';

/** y = (x + big) * small: `big` has 64K values in a view at an offset of a larger shared buffer, `small` stays encoded. */
function model(): { model: ModelProto; big: Float32Array; small: Float32Array } {
  const N = 64 * 1024;
  const shared = new Float32Array(3 * N);
  const big = shared.subarray(N, 2 * N);
  for (let i = 0; i < N; i++) big[i] = Math.sin(i);
  const small = Float32Array.from({ length: N }, (_, i) => (i % 7) - 3).subarray(0, 16);
  const b = new GraphBuilder();
  b.input('x', DataType.FLOAT, [N]);
  const raw = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  b.initializerProto({ name: 'big', dims: [N], data_type: DataType.FLOAT, raw_data: raw(big) });
  b.initializerProto({ name: 'small', dims: [16], data_type: DataType.FLOAT, raw_data: raw(small) });
  b.node('Add', ['x', 'big'], {}, { output: 's' });
  b.node('Reshape', ['s', b.constInt64('shape', [N / 16, 16])], {}, { output: 'r' });
  b.node('Mul', ['r', 'small'], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, [N / 16, 16]);
  return { model: b.model(13), big, small };
}

test('encodeForRuntime leaves big initializers out of the bytes and names their ranges in one in-memory file per buffer', () => {
  const { model: m, big } = model();
  const { bytes, externalData } = encodeForRuntime(m);
  const full = encodeModelProto(m);
  assert.ok(bytes.byteLength < full.byteLength - big.byteLength + 1024, `${bytes.byteLength} of ${full.byteLength} bytes`);
  assert.equal(externalData.length, 1);
  assert.equal(externalData[0].used, big.byteLength);
  assert.equal(externalData[0].data.buffer, big.buffer, 'the buffer itself, not a copy');
  const t = decodeModelProto(bytes).graph!.initializer!.find((i) => i.name === 'big')!;
  const ext = Object.fromEntries((t.external_data ?? []).map((e) => [e.key, e.value]));
  assert.equal(t.data_location, 1);
  assert.deepEqual(ext, { location: externalData[0].path, offset: String(big.byteOffset), length: String(big.byteLength) });
  assert.ok(big.byteLength >= IN_MEMORY_MIN_BYTES);
  const small = decodeModelProto(bytes).graph!.initializer!.find((i) => i.name === 'small')!;
  assert.ok(small.raw_data && small.data_location !== 1, 'small initializers stay encoded');
});

test('encodeForRuntime leaves tensors without raw data as they are (a decoded model holds an empty Array there)', () => {
  const { model: m } = model();
  const decoded = decodeModelProto(encodeModelProto(m));
  decoded.graph!.initializer!.push({ name: 'listed', dims: [2], data_type: DataType.FLOAT, float_data: [1, 2], raw_data: [] as unknown as Uint8Array });
  const { externalData } = encodeForRuntime(decoded);
  assert.equal(externalData.length, 1);
  assert.equal(externalData[0].used, 4 * 64 * 1024);
});

test('a session created by reference gives the same outputs as the encoded model, and is not shared by SharedSessions', async () => {
  const { model: m, big, small } = model();
  const backend = ortBackend();
  const x = Float32Array.from({ length: big.length }, (_, i) => i / 1000);
  const feeds = { x: { type: DataType.FLOAT, dims: [big.length], data: x } };
  const encoded = await backend.createSession(encodeModelProto(m));
  const expected = toFloat32((await encoded.run(feeds)).y);
  await encoded.release();
  const seen: SessionOptions[] = [];
  const spy: InferenceBackend = { version: backend.version, createSession: (b, o) => { seen.push(o ?? {}); return backend.createSession(b, o); } };
  const shared = new SharedSessions(spy);
  const s = await createProtoSession(shared, m);
  const got = toFloat32((await s.run(feeds)).y);
  assert.deepEqual(got, expected);
  for (let i = 0; i < 16; i++) assert.equal(got[i], Math.fround(Math.fround(x[i] + big[i]) * small[i]));
  // ONNX Runtime copied the range: writing the JavaScript buffer afterwards does not change the session
  big.fill(100);
  assert.deepEqual(toFloat32((await s.run(feeds)).y), expected);
  await s.release();
  await createProtoSession(shared, m);
  assert.equal(seen.length, 2, 'each session created anew (options holding buffers are not a sharing key)');
  assert.equal(seen[0].externalData?.length, 1);
  await shared.close();
});
