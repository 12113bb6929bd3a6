// MaxPool gradient with tied maxima: the computed-indices rule (no indices output) must send each window's
// gradient to the same element as the rule through MaxPool's own indices (the first maximum).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { DataType, encodeModelProto } from '../../src/core/onnx/proto';
import { Graph } from '../../src/core/onnx/graph';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { emitBackward, prepareForward, requiresGrad } from '../../src/core/train/autodiff';
import { Rng } from '../../src/core/train/random';

async function maxPoolGrad(x: Float32Array, xs: number[], k: number[], ownIndices: boolean): Promise<Float32Array> {
  const ys = [xs[0], xs[1], xs[2] / k[0], xs[3] / k[1]];
  const b = new GraphBuilder('g');
  b.input('x', DataType.FLOAT, xs);
  const r = b.input('R', DataType.FLOAT, ys);
  b.nodeMulti('MaxPool', ['x'], ownIndices ? ['y', 'idx'] : ['y'], { kernel_shape: k, strides: k }, { name: 'pool' });
  const graph = new Graph(b.model(17));
  const shapes = new Map([['x', xs], ['y', ys], ['idx', ys]]);
  const nodes = prepareForward(graph.nodes, requiresGrad(graph.nodes, ['x']), shapes);
  assert.equal(nodes[0].outputs.length, ownIndices ? 2 : 1, 'tiling windows need no indices output');
  const g = new GraphBuilder('grad');
  g.input('x', DataType.FLOAT, xs);
  g.input('R', DataType.FLOAT, ys);
  for (const t of ['y', 'idx']) g.fresh(t);
  for (const n of nodes) g.nodes.push(n.proto);
  const grads = emitBackward({ b: g, nodes, wrt: ['x'], seeds: new Map([['y', r]]), shapes: new Map(shapes), dtype: DataType.FLOAT, constInts: () => undefined });
  g.output(g.node('Identity', [grads.get('x')!]), DataType.FLOAT);
  const s = await ortBackend().createSession(encodeModelProto(g.model(17)), { threads: 1 });
  try {
    const rng = new Rng(3);
    const R = Float32Array.from({ length: ys.reduce((a, v) => a * v, 1) }, () => rng.uniform(-1, 1));
    const out = await s.run({ x: { type: DataType.FLOAT, dims: xs, data: x }, R: { type: DataType.FLOAT, dims: ys, data: R } });
    return Object.values(out)[0].data as Float32Array;
  } finally {
    await s.release();
  }
}

test('MaxPool gradient with tied maxima matches the indices path exactly', async () => {
  for (const [xs, k] of [[[2, 3, 8, 6], [2, 2]], [[1, 2, 9, 6], [3, 2]]] as [number[], number[]][]) {
    const rng = new Rng(11);
    // Values from {0, 1, 2}: most windows hold tied maxima.
    const x = Float32Array.from({ length: xs.reduce((a, v) => a * v, 1) }, () => Math.floor(rng.next() * 3));
    const viaIndices = await maxPoolGrad(x, xs, k, true);
    const computed = await maxPoolGrad(x, xs, k, false);
    assert.ok(viaIndices.some((v) => v !== 0));
    assert.deepEqual(Array.from(computed), Array.from(viaIndices));
  }
});
