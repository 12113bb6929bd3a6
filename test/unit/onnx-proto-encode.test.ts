// encodeModelProto sizes its buffer from the raw tensor data: models whose other fields pass that estimate (float_data,
// many nodes) grow it, and every model decodes back to what was encoded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeModelProto, encodeModelProto, ModelProto } from '../../src/core/onnx/proto';

test('encodeModelProto: raw data, float_data past the size estimate and many nodes decode back unchanged', () => {
  const raw = new Uint8Array(3 << 20).map((_, i) => (i * 7) & 255);
  const floats = Array.from({ length: 600_000 }, (_, i) => i / 3); // 2.4 MB of float_data: past the 1 MiB slack
  const nodes = Array.from({ length: 20_000 }, (_, i) => ({ op_type: 'Identity', name: `n${i}`, input: [i ? `t${i - 1}` : 'x'], output: [`t${i}`] }));
  const model: ModelProto = {
    ir_version: 8, opset_import: [{ domain: '', version: 13 }],
    graph: {
      name: 'g', node: nodes,
      initializer: [{ name: 'raw', dims: [raw.length], data_type: 2, raw_data: raw }, { name: 'f', dims: [floats.length], data_type: 1, float_data: floats }],
      input: [{ name: 'x' }], output: [{ name: `t${nodes.length - 1}` }],
    },
  } as ModelProto;
  const bytes = encodeModelProto(model);
  const back = decodeModelProto(bytes);
  assert.equal(back.graph!.node!.length, nodes.length);
  assert.equal(back.graph!.node![19_999].name, 'n19999');
  assert.deepEqual(Buffer.from(back.graph!.initializer![0].raw_data!), Buffer.from(raw));
  assert.deepEqual(back.graph!.initializer![1].float_data!.slice(-3), floats.slice(-3).map(Math.fround));
  assert.equal(back.graph!.initializer![1].float_data!.length, floats.length);
  // the same bytes again, and decoding them gives the same model (nothing of the reused buffer leaks in)
  assert.ok(Buffer.from(encodeModelProto(back)).equals(Buffer.from(bytes)));
});
