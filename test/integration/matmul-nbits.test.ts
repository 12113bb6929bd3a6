// Weight-only blocked MatMul/Gemm exported as com.microsoft MatMulNBits: ONNX Runtime runs it and gives the same
// outputs as DequantizeLinear + MatMul of the same quantized weights (int4 symmetric, uint4 with zero points, int8;
// K not a multiple of the block; a Gemm with bias; a weight shared by two MatMuls packed once).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { DataType, encodeModelProto, ModelProto } from '../../src/core/onnx/proto';
import { Graph } from '../../src/core/onnx/graph';
import { toFloat32 } from '../../src/core/onnx/tensor-data';
import { buildInventoryAsync } from '../../src/core/onnx/inventory';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { mulberry32 } from '../../src/core/data/synthetic';
import { buildPlan } from '../../src/core/quant/plan';
import { exportQdq } from '../../src/core/quant/qdq-export';
import { sqnrDb } from '../../src/core/analysis/metrics';

const backend = ortBackend();

function randn(r: () => number, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()) * std;
  return out;
}

/** x [B, T, 200] → MatMul W1 [200, 48] (shared by two MatMuls) → Add → Gemm W2ᵀ [40, 48] + bias. */
function model(): ModelProto {
  const r = mulberry32(7);
  const g = new GraphBuilder('nbits');
  g.input('x', DataType.FLOAT, [2, 3, 200]);
  g.initializer('w1', { type: DataType.FLOAT, dims: [200, 48], data: randn(r, 200 * 48, 0.1) });
  g.node('MatMul', ['x', 'w1'], {}, { name: 'mm1', output: 'h1' });
  g.node('MatMul', ['x', 'w1'], {}, { name: 'mm2', output: 'h2' });
  g.node('Add', ['h1', 'h2'], {}, { name: 'add', output: 'h' });
  g.node('Reshape', ['h', g.constInt64('shape', [6, 48])], {}, { name: 'flat', output: 'f' });
  g.initializer('w2', { type: DataType.FLOAT, dims: [40, 48], data: randn(r, 40 * 48, 0.2) });
  g.initializer('b2', { type: DataType.FLOAT, dims: [40], data: randn(r, 40, 0.1) });
  g.node('Gemm', ['f', 'w2', 'b2'], { transB: 1 }, { name: 'fc', output: 'y' });
  g.output('y', DataType.FLOAT, [6, 40]);
  return g.model(17);
}

async function run(m: ModelProto, optimization: 'disabled' | 'all'): Promise<Float32Array> {
  const x = randn(mulberry32(3), 2 * 3 * 200, 1);
  const s = await backend.createSession(encodeModelProto(m), { optimization });
  try { return toFloat32((await s.run({ x: { type: DataType.FLOAT, dims: [2, 3, 200], data: x } })).y); } finally { await s.release(); }
}

for (const weights of ['int4/block:128', 'uint4/block:32', 'int8/block:64', 'int3/block:16']) {
  test(`MatMulNBits (${weights}) runs in ONNX Runtime and matches DequantizeLinear + MatMul`, async () => {
    const m = model();
    const layers = await buildInventoryAsync(new Graph(m), backend, { stats: false });
    const plan = buildPlan(layers, { defaults: { weights, activations: 'float' }, layers: {} });
    const dq = exportQdq(m, plan, new Map());
    const nb = exportQdq(m, plan, new Map(), { matMulNBits: true });
    const nodes = nb.graph!.node!;
    assert.deepEqual(nodes.filter((n) => n.op_type === 'MatMulNBits').map((n) => n.name), ['mm1', 'mm2', 'fc']);
    assert.ok(!nodes.some((n) => n.op_type === 'DequantizeLinear'));
    // the shared weight is packed once and the float weights are gone
    const inits = nb.graph!.initializer!.map((t) => t.name);
    assert.equal(inits.filter((n) => n!.startsWith('w1_Q')).length, 1);
    assert.ok(!inits.includes('w1') && !inits.includes('w2'));
    const zp = inits.some((n) => n!.includes('zero_points'));
    assert.equal(zp, weights.startsWith('uint'), 'zero points only for the asymmetric format');
    const ref = await run(dq, 'disabled');
    for (const opt of ['disabled', 'all'] as const) {
      const out = await run(nb, opt);
      assert.ok(sqnrDb(ref, out) > 100, `${weights} ${opt}: ${sqnrDb(ref, out).toFixed(1)} dB against DQ + MatMul`);
    }
    // and the packed model is about bits/32 of the float one (plus scales, and the tail block's padding)
    const ratio = encodeModelProto(nb).byteLength / encodeModelProto(m).byteLength;
    assert.ok(ratio < (weights.startsWith('int8') ? 0.4 : 0.25), `size ratio ${ratio.toFixed(3)}`);
  });
}
