// Fake quantization in the training graph: equals the core quantizer (quantize.ts) bit for bit, STE mask, LSQ scale gradient.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { DataType, encodeModelProto } from '../../src/core/onnx/proto';
import { sizeOf } from '../../src/core/onnx/tensor-data';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { fakeQuantize, roundHalfEven } from '../../src/core/quant/quantize';
import { emitBackward } from '../../src/core/train/autodiff';
import { specParams } from '../../src/core/train/export';
import { emitFakeQuant, FakeQuantSpec, FqGranularity, qdqApplies, qRange, scaleDims } from '../../src/core/train/fake-quant';
import { GradContext } from '../../src/core/train/grad-context';
import { STEP_SESSION_CONFIG } from '../../src/core/train/train-step';
import { Rng } from '../../src/core/train/random';

interface Case { name: string; dims: number[]; bits: number; signed: boolean; g: FqGranularity; zp?: number }

const cases: Case[] = [
  { name: 'int8 per-tensor', dims: [6, 5], bits: 8, signed: true, g: { kind: 'tensor' } },
  { name: 'uint8 asymmetric', dims: [4, 6], bits: 8, signed: false, g: { kind: 'tensor' }, zp: 37 },
  { name: 'int4 per-channel axis 0', dims: [4, 3, 2, 2], bits: 4, signed: true, g: { kind: 'channel', axis: 0 } },
  { name: 'int2 per-channel axis 1', dims: [5, 3], bits: 2, signed: true, g: { kind: 'channel', axis: 1 } },
  { name: 'int4 blocked 4 on axis 1', dims: [3, 8], bits: 4, signed: true, g: { kind: 'block', axis: 1, size: 4 } },
  { name: 'int4 blocked 4 on axis 1, last block partial', dims: [3, 10], bits: 4, signed: true, g: { kind: 'block', axis: 1, size: 4 } },
  { name: 'int8 blocked 3 on axis 0, last block partial', dims: [7, 2], bits: 8, signed: true, g: { kind: 'block', axis: 0, size: 3 } },
  { name: 'int16 per-tensor', dims: [3, 7], bits: 16, signed: true, g: { kind: 'tensor' } },
  { name: 'uint3 per-tensor', dims: [3, 7], bits: 3, signed: false, g: { kind: 'tensor' }, zp: 2 },
  { name: 'int8 per-channel axis 1', dims: [3, 5, 8], bits: 8, signed: true, g: { kind: 'channel', axis: 1 } },
];

async function run(c: Case, learn: boolean, qdq = false, recompute = false) {
  const rng = new Rng(c.bits * 31 + c.dims.length);
  const n = sizeOf(c.dims);
  const sd = scaleDims(c.dims, c.g);
  const ns = sizeOf(sd);
  const [qmin, qmax] = qRange(c.bits, c.signed);
  const scale = Float32Array.from({ length: ns }, () => 0.05 + 0.1 * rng.next());
  // Values on exact half-way points (ties), inside, and far outside the range.
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const s = scale[0];
    const r = rng.next();
    x[i] = r < 0.3 ? (Math.floor(rng.uniform(qmin - 3, qmax + 3)) + 0.5) * s : rng.uniform(qmin - 4, qmax + 4) * s * 1.3;
  }
  const spec: FakeQuantSpec = { tensor: 'x', uses: [], role: 'weight', bits: c.bits, signed: c.signed, granularity: c.g, scale, zeroPoint: new Int32Array(ns).fill(c.zp ?? 0), learnScale: learn };
  const b = new GraphBuilder();
  b.input('x', DataType.FLOAT, c.dims);
  b.input('s', DataType.FLOAT, sd);
  const gy = b.input('gy', DataType.FLOAT, c.dims);
  const shapes = new Map([['x', c.dims], ['s', sd]]);
  const ctx = new GradContext(b, DataType.FLOAT, shapes, new Set(), () => undefined);
  const fq = emitFakeQuant(ctx, spec, 'x', 's', 0, { qdq, recompute });
  b.output(b.node('Identity', [fq.y]), DataType.FLOAT);
  const grads = emitBackward({ b, nodes: [fq.node], wrt: learn ? ['x', 's'] : ['x'], seeds: new Map([[fq.y, gy]]), shapes, dtype: DataType.FLOAT, constInts: () => undefined, custom: new Map([[fq.node.name, fq.rule]]) });
  const gx = b.node('Identity', [grads.get('x')!]);
  b.output(gx, DataType.FLOAT);
  const gs = learn ? b.node('Identity', [grads.get('s')!]) : undefined;
  if (gs) b.output(gs, DataType.FLOAT);
  const session = await ortBackend().createSession(encodeModelProto(b.model(17)), { threads: 1, config: qdq ? STEP_SESSION_CONFIG : undefined });
  const g = Float32Array.from({ length: n }, () => rng.uniform(-1, 1));
  try {
    const out = await session.run({ x: { type: DataType.FLOAT, dims: c.dims, data: x }, s: { type: DataType.FLOAT, dims: sd, data: scale }, gy: { type: DataType.FLOAT, dims: c.dims, data: g } });
    return { x, g, scale, spec, qmin, qmax, y: out[b.outputs[0].name!].data as Float32Array, gx: out[gx].data as Float32Array, gs: gs ? (out[gs].data as Float32Array) : undefined };
  } finally {
    await session.release();
  }
}

/** Index of the scale each element uses. */
function scaleIndex(dims: number[], g: FqGranularity, i: number): number {
  if (g.kind === 'tensor') return 0;
  const strides = dims.map((_, k) => sizeOf(dims.slice(k + 1)));
  const idx = dims.map((d, k) => Math.floor(i / strides[k]) % d);
  if (g.kind === 'channel') return idx[g.axis];
  const sd = scaleDims(dims, g);
  return idx.reduce((acc, v, k) => acc * sd[k] + (k === g.axis ? Math.floor(v / g.size) : v), 0);
}

for (const [c, qdq] of [...cases.map((c) => [c, false] as const), ...cases.filter((c) => c.bits === 8 && c.g.kind !== 'block').map((c) => [c, true] as const)]) {
  test(`fake quantization ${c.name}${qdq ? ' (QuantizeLinear + DequantizeLinear)' : ''}: equals quantize.ts bit for bit, STE gradient masks outside the range`, async () => {
    const r = await run(c, false, qdq);
    const want = fakeQuantize(r.x, c.dims, specParams(r.spec));
    assert.deepEqual(Array.from(r.y), Array.from(want));
    let inside = 0, outside = 0;
    for (let i = 0; i < r.x.length; i++) {
      const k = scaleIndex(c.dims, c.g, i);
      const v = Math.fround(r.x[i] / r.scale[k]) + (c.zp ?? 0);
      const isIn = v >= r.qmin && v <= r.qmax;
      assert.ok(r.gx[i] === (isIn ? r.g[i] : 0), `STE gradient at ${i}: ${r.gx[i]} (x/s + z = ${v})`);
      if (isIn) inside++; else outside++;
    }
    assert.ok(inside > 0 && outside > 0, 'the data covers both sides of the clip range');
  });
}

test('LSQ scale gradient: (q - z) - x/s inside, the clip level outside, summed per scale and scaled by 1/sqrt(N qmax)', async () => {
  const perChannel8 = cases[9];
  for (const [c, qdq] of [[cases[0], false], [cases[2], false], [cases[4], false], [cases[5], false], [cases[0], true], [cases[1], true], [perChannel8, true], [perChannel8, false]] as const) {
    const r = await run(c, true, qdq);
    const ns = r.scale.length;
    const want = new Float64Array(ns);
    const per = r.x.length / ns;
    for (let i = 0; i < r.x.length; i++) {
      const k = scaleIndex(c.dims, c.g, i);
      const v = Math.fround(r.x[i] / r.scale[k]);
      const z = c.zp ?? 0;
      const q = Math.min(r.qmax, Math.max(r.qmin, roundHalfEven(v) + z)) - z;
      const isIn = v + z >= r.qmin && v + z <= r.qmax;
      want[k] += r.g[i] * (isIn ? q - v : q);
    }
    for (let k = 0; k < ns; k++) {
      const w = want[k] / Math.sqrt(per * r.qmax);
      assert.ok(Math.abs(r.gs![k] - w) <= 1e-4 * Math.max(1, Math.abs(w)), `${c.name}: d/ds[${k}] ${r.gs![k]} vs ${w}`);
    }
  }
});

test('recompute (a weight fake-quantized before the micro-batch Loop): the backward quantizes x again, the same gradients bit for bit', async () => {
  for (const c of cases) {
    const kept = await run(c, true), again = await run(c, true, false, true);
    assert.deepEqual(again.y, kept.y, c.name);
    assert.deepEqual(again.gx, kept.gx, c.name);
    assert.deepEqual(again.gs, kept.gs, c.name);
  }
});

test('QuantizeLinear + DequantizeLinear only where ONNX Runtime vectorizes it: 8-bit, not per channel on a short last axis', () => {
  const ctx = new GradContext(new GraphBuilder(), DataType.FLOAT, new Map(), new Set(), () => undefined);
  const spec = (bits: number, g: FqGranularity): FakeQuantSpec => ({ tensor: 'x', uses: [], role: 'weight', bits, signed: true, granularity: g, scale: new Float32Array(1), zeroPoint: new Int32Array(1), learnScale: false });
  assert.equal(qdqApplies(ctx, spec(8, { kind: 'tensor' }), [8, 96, 112, 112]), true);
  assert.equal(qdqApplies(ctx, spec(8, { kind: 'channel', axis: 0 }), [96, 16, 3, 3]), true);
  assert.equal(qdqApplies(ctx, spec(8, { kind: 'channel', axis: 1 }), [768, 3072]), false);
  assert.equal(qdqApplies(ctx, spec(4, { kind: 'tensor' }), [8, 16]), false);
  assert.equal(qdqApplies(ctx, spec(8, { kind: 'block', axis: 1, size: 32 }), [64, 64]), false);
  assert.equal(qdqApplies(new GradContext(new GraphBuilder(), DataType.DOUBLE, new Map(), new Set(), () => undefined), spec(8, { kind: 'tensor' }), [4]), false);
});
