// Static rank and element-type derivation (the opset upgrade keeps Softmax rewrites single nodes; shape inference never fetches what JS cannot receive).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { Graph } from '../../src/core/onnx/graph';
import { DataType } from '../../src/core/onnx/proto';
import { elementTypes, staticRanks, unfetchableTensors } from '../../src/core/onnx/shapes';

test('ranks through computed shape vectors, Squeeze/Unsqueeze, Gather, reductions and MatMul', () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, ['N', 8, 4, 4]);
  const shape = b.node('Shape', [x]); // length 4
  const head = b.node('Slice', [shape, b.constInt64('s', [0]), b.constInt64('e', [1])]); // length 1
  const target = b.node('Concat', [head, b.constInt64('rest', [-1, 16])], { axis: 0 }); // length 3
  const r = b.node('Reshape', [x, target]); // rank 3
  const sm = b.node('Softmax', [r], { axis: 2 });
  const red = b.node('ReduceMean', [sm], { axes: [1], keepdims: 0 }); // rank 2
  const un = b.node('Unsqueeze', [red, b.constInt64('ax', [0, 3])]); // rank 4
  const sq = b.node('Squeeze', [un, b.constInt64('ax2', [0])]); // rank 3
  const g = b.node('Gather', [sq, b.constInt64('i', [0], [])], { axis: 1 }); // rank 2 (scalar index)
  const mm = b.node('MatMul', [g, b.constFloat('v', new Float32Array(16), [16])]); // rank 1
  const dyn = b.node('Reshape', [x, b.node('Shape', [b.input('y', DataType.FLOAT)])]); // unknown
  b.output(mm); b.output(dyn);
  const ranks = staticRanks(new Graph(b.model(13)));
  assert.deepEqual([r, sm, red, un, sq, g, mm].map((t) => ranks.get(t)), [3, 3, 2, 4, 3, 2, 1]);
  assert.equal(ranks.has(dyn), false);
});

test('element types propagate so that bfloat16, float8 and int4 tensors are never fetched', () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [2, 2]);
  const h = b.node('Cast', [x], { to: DataType.BFLOAT16 });
  const a = b.node('Add', [h, h]); // bfloat16 by propagation
  const back = b.node('Cast', [a], { to: DataType.FLOAT });
  const q8 = b.node('QuantizeLinear', [back, b.constFloat('s', [1], []), b.initializer('z', { type: DataType.FLOAT8E4M3FN, dims: [], data: new Uint8Array(1) })]);
  const t8 = b.node('Transpose', [q8]);
  const d8 = b.node('DequantizeLinear', [t8, b.constFloat('s2', [1], [])]);
  const shape = b.node('Shape', [d8]);
  const eq = b.node('Equal', [d8, back]);
  b.output(d8); b.output(shape, DataType.INT64); b.output(eq, DataType.BOOL);
  const graph = new Graph(b.model(21));
  const types = elementTypes(graph);
  assert.deepEqual([h, a, back, q8, t8, d8, shape, eq].map((t) => types.get(t)),
    [DataType.BFLOAT16, DataType.BFLOAT16, DataType.FLOAT, DataType.FLOAT8E4M3FN, DataType.FLOAT8E4M3FN, DataType.FLOAT, DataType.INT64, DataType.BOOL]);
  assert.deepEqual([...unfetchableTensors(graph)].sort(), [h, a, q8, t8, 'z'].sort());
});

test('a shape vector sliced to INT64_MAX stored as int64_data keeps its length (no wrap to INT64_MIN)', () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, ['N', 3, 4]);
  const ends = b.initializerProto({ name: 'ends', dims: [1], data_type: DataType.INT64, int64_data: [9223372036854775807] });
  const tail = b.node('Slice', [b.node('Shape', [x]), b.constInt64('starts', [1]), ends]); // length 2
  const r = b.node('Reshape', [x, b.node('Concat', [b.constInt64('m1', [-1]), tail], { axis: 0 })]); // rank 3
  b.output(r);
  const graph = new Graph(b.model(13));
  assert.equal(graph.constantValue('ends')!.data[0], 9223372036854775807n);
  assert.equal(staticRanks(graph).get(r), 3);
});

test('reductions over axes only known at run time have no static rank', () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [2, 3, 4]);
  const axes = b.input('axes', DataType.INT64, [1]);
  const dyn = b.node('ReduceSum', [x, axes], { keepdims: 0 });
  const all = b.node('ReduceSum', [x], { keepdims: 0 });
  const kept = b.node('ReduceSum', [x, axes], { keepdims: 1 });
  b.output(dyn); b.output(all); b.output(kept);
  const ranks = staticRanks(new Graph(b.model(13)));
  assert.deepEqual([ranks.get(dyn), ranks.get(all), ranks.get(kept)], [undefined, 0, 3]);
});
