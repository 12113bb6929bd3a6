// RuntimeSession.run's `into`: ONNX Runtime writes outputs into the caller's tensors (the screening's Fisher sums
// accumulate in place), with a feed of the same run as the target when the op works element by element.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { DataType, encodeModelProto } from '../../src/core/onnx/proto';
import { Tensor } from '../../src/core/onnx/tensor-data';
import { ortBackend } from '../../src/core/runtime/ort-backend';

const F = DataType.FLOAT;

async function accumulator() {
  const b = new GraphBuilder();
  const a = b.input('a', F, [3, 5]);
  const g = b.input('g', F, [3, 5]);
  b.node('Add', [a, b.node('Mul', [g, g])], {}, { output: 'acc' });
  b.node('Neg', [g], {}, { output: 'neg' });
  b.output('acc');
  b.output('neg');
  return ortBackend().createSession(encodeModelProto(b.model(13)), { threads: 1, arena: false });
}

test('run(..., into): outputs land in the given buffers, in place on a feed, others are allocated as usual', async () => {
  const s = await accumulator();
  try {
    const g: Tensor = { type: F, dims: [3, 5], data: Float32Array.from({ length: 15 }, (_, i) => i - 7) };
    const acc: Tensor = { type: F, dims: [3, 5], data: new Float32Array(15) };
    for (let k = 0; k < 3; k++) {
      const out = await s.run({ a: acc, g }, ['acc', 'neg'], { acc });
      assert.equal(out.acc.data, acc.data, 'the returned output is the given buffer');
      assert.notEqual(out.neg.data, acc.data);
      assert.deepEqual(Array.from(out.neg.data as Float32Array), Array.from(g.data as Float32Array, (v) => -v));
    }
    assert.deepEqual(Array.from(acc.data as Float32Array), Array.from(g.data as Float32Array, (v) => 3 * v * v));
    // into a separate buffer: the feed is left as it was
    const other: Tensor = { type: F, dims: [3, 5], data: new Float32Array(15).fill(NaN) };
    await s.run({ a: acc, g }, ['acc'], { acc: other });
    assert.deepEqual(Array.from(other.data as Float32Array), Array.from(g.data as Float32Array, (v) => 4 * v * v));
    assert.deepEqual(Array.from(acc.data as Float32Array), Array.from(g.data as Float32Array, (v) => 3 * v * v));
    // a buffer of the wrong shape is refused with ONNX Runtime's reason
    await assert.rejects(s.run({ a: acc, g }, ['acc'], { acc: { type: F, dims: [5, 3], data: new Float32Array(15) } }), /ONNX Runtime failed to run the model/);
  } finally {
    await s.release();
  }
});
