// Sessions with big MatMul/Gemm/Gather weights fed at run time give the same outputs as the model with them baked in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModelSession, feedWeights } from '../../src/core/runtime/fed-weights';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { DataType, encodeModelProto } from '../../src/core/onnx/proto';
import { toFloat32 } from '../../src/core/onnx/tensor-data';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { Rng } from '../../src/core/train/random';

function model() {
  const rng = new Rng(4);
  const rand = (n: number) => Float32Array.from({ length: n }, () => rng.normal() * 0.1);
  const b = new GraphBuilder('fed');
  const x = b.input('x', DataType.FLOAT, ['N', 128]);
  const ids = b.input('ids', DataType.INT64, ['N']);
  const big = b.initializer('big', { type: DataType.FLOAT, dims: [128, 256], data: rand(128 * 256) }); // 128 KB: fed
  const shared = b.initializer('shared', { type: DataType.FLOAT, dims: [256, 256], data: rand(256 * 256) }); // also added: stays
  const table = b.initializer('table', { type: DataType.FLOAT, dims: [100, 256], data: rand(100 * 256) }); // 100 KB Gather table: fed
  const small = b.initializer('small', { type: DataType.FLOAT, dims: [256, 8], data: rand(256 * 8) }); // 8 KB: stays
  let h = b.node('MatMul', [x, big]);
  h = b.node('Add', [b.node('MatMul', [h, shared]), b.node('ReduceMean', [shared], { axes: [0], keepdims: 0 })]);
  h = b.node('Add', [h, b.node('Gather', [table, ids], { axis: 0 })]);
  b.output(b.node('MatMul', [h, small], {}, { output: 'y' }), DataType.FLOAT, ['N', 8]);
  return b.model(13);
}

test('feedWeights moves only big weights read as MatMul/Gemm operands or Gather tables; the session hides them and matches', async () => {
  const m = model();
  const { model: slim, feeds } = feedWeights(m);
  assert.deepEqual(Object.keys(feeds).sort(), ['big', 'table']);
  assert.deepEqual(slim.graph!.initializer!.map((t) => t.name).sort(), ['shared', 'small']);
  const backend = ortBackend();
  const rng = new Rng(9);
  const inputs = { x: { type: DataType.FLOAT, dims: [3, 128], data: Float32Array.from({ length: 3 * 128 }, () => rng.normal()) }, ids: { type: DataType.INT64, dims: [3], data: BigInt64Array.from([0n, 99n, 42n]) } };
  const plain = await backend.createSession(encodeModelProto(m), { optimization: 'disabled', threads: 1 });
  const fed = await createModelSession(backend, m, { optimization: 'disabled', threads: 1 });
  try {
    assert.deepEqual([...fed.inputNames].sort(), ['ids', 'x']);
    const a = toFloat32((await plain.run(inputs)).y), c = toFloat32((await fed.run(inputs)).y);
    assert.equal(c.length, 24);
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - c[i]) <= 1e-5 * (1 + Math.abs(a[i])), `y[${i}] ${c[i]} vs ${a[i]}`);
  } finally {
    await plain.release();
    await fed.release();
  }
});
