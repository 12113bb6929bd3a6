// Weights whose raw_data protobuf placed at an odd offset are moved once, aligned, at load: reads view them in place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseModel } from '../../src/core/onnx/model-file';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { DataType, encodeModelProto } from '../../src/core/onnx/proto';
import { tensorFromProto } from '../../src/core/onnx/tensor-data';

function bytesWithOddOffsets(): Uint8Array {
  const b = new GraphBuilder('align');
  const x = b.input('x', DataType.FLOAT, [1, 3]);
  // names of different lengths shift each raw_data by a few bytes in the encoding
  const w1 = b.initializer('w', { type: DataType.FLOAT, dims: [3, 2], data: Float32Array.from([1, 2, 3, 4, 5, 6]) });
  const w2 = b.initializer('weight_two', { type: DataType.FLOAT, dims: [2, 2], data: Float32Array.from([-1, 0.5, 7, 8]) });
  const s = b.initializer('shape_i64', { type: DataType.INT64, dims: [2], data: BigInt64Array.from([1n, 2n]) });
  const r = b.node('Reshape', [b.node('MatMul', [b.node('MatMul', [x, w1]), w2]), s]);
  // a string attribute: decoded, a bytes view on the file too
  b.output(b.node('Pad', [r, b.initializer('pads', { type: DataType.INT64, dims: [4], data: BigInt64Array.from([0n, 0n, 0n, 0n]) })], { mode: 'constant' }), DataType.FLOAT, [1, 2]);
  return encodeModelProto(b.model(17));
}

test('parseModel aligns misplaced tensor data: same values, read in place afterwards', () => {
  const bytes = bytesWithOddOffsets();
  // the encoding puts some raw_data at an offset a Float32Array/BigInt64Array cannot view
  const model = parseModel(bytes, 'align.onnx');
  const inits = model.graph!.initializer!;
  for (const t of inits) {
    const size = t.data_type === DataType.INT64 ? 8 : 4;
    assert.equal(t.raw_data!.byteOffset % size, 0, `${t.name} aligned`);
    assert.notEqual(t.raw_data!.buffer, bytes.buffer, `${t.name} no longer in the file's bytes`);
  }
  // nothing is left viewing the file's bytes (they can be collected)
  const views: Uint8Array[] = [];
  const walk = (o: unknown): void => { if (o instanceof Uint8Array) views.push(o); else if (o && typeof o === 'object' && !ArrayBuffer.isView(o)) for (const v of Object.values(o)) walk(v); };
  walk(model);
  assert.ok(views.some((v) => new TextDecoder().decode(v) === 'constant'), 'the mode attribute is bytes');
  assert.equal(views.filter((v) => v.buffer === bytes.buffer).length, 0);
  const w2 = tensorFromProto(inits.find((t) => t.name === 'weight_two')!);
  assert.deepEqual(Array.from(w2.data as Float32Array), [-1, 0.5, 7, 8]);
  assert.equal((w2.data as Float32Array).buffer, inits.find((t) => t.name === 'weight_two')!.raw_data!.buffer, 'a view, not a copy');
  assert.deepEqual(Array.from(tensorFromProto(inits.find((t) => t.name === 'shape_i64')!).data as BigInt64Array), [1n, 2n]);
  assert.deepEqual(Array.from(tensorFromProto(inits.find((t) => t.name === 'w')!).data as Float32Array), [1, 2, 3, 4, 5, 6]);
});

test('a file\'s own bytes: misplaced tensor data moves within them, names and attribute strings get their own copies', () => {
  const encoded = bytesWithOddOffsets();
  let moved = 0;
  // the encoding at every offset modulo 8 in its buffer (as a file's bytes may sit)
  for (let shift = 0; shift < 8; shift++) {
    const bytes = new Uint8Array(encoded.byteLength + shift).subarray(shift);
    bytes.set(encoded);
    const pristine = bytes.slice();
    const model = parseModel(bytes, 'align.onnx', { inPlace: true });
    const inits = model.graph!.initializer!;
    for (const t of inits) {
      const size = t.data_type === DataType.INT64 ? 8 : 4;
      assert.equal(t.raw_data!.byteOffset % size, 0, `${t.name} aligned`);
      assert.equal(t.raw_data!.buffer, bytes.buffer, `${t.name} still in the file's bytes`);
    }
    if (bytes.some((v, i) => v !== pristine[i])) moved++;
    // every other view has its own bytes (the moves wrote over the protobuf around the weights)
    const views: Uint8Array[] = [];
    const walk = (o: unknown): void => { if (o instanceof Uint8Array) views.push(o); else if (o && typeof o === 'object' && !ArrayBuffer.isView(o)) for (const v of Object.values(o)) walk(v); };
    walk(model);
    const raw = new Set(inits.map((t) => t.raw_data));
    assert.ok(views.some((v) => new TextDecoder().decode(v) === 'constant'), 'the mode attribute is bytes');
    if (bytes.some((v, i) => v !== pristine[i])) assert.equal(views.filter((v) => v.buffer === bytes.buffer && !raw.has(v)).length, 0);
    // the same model as decoding the untouched bytes
    assert.deepEqual(encodeModelProto(model), encodeModelProto(parseModel(pristine, 'align.onnx')), `shift ${shift}`);
    assert.deepEqual(Array.from(tensorFromProto(inits.find((t) => t.name === 'weight_two')!).data as Float32Array), [-1, 0.5, 7, 8]);
    assert.deepEqual(Array.from(tensorFromProto(inits.find((t) => t.name === 'shape_i64')!).data as BigInt64Array), [1n, 2n]);
  }
  assert.ok(moved >= 4, `data moved at ${moved} of 8 offsets`);
});
