// quantize/dequantize against ONNX Runtime's own QuantizeLinear/DequantizeLinear: bit-exact on seeded random tensors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { DataType, encodeModelProto, TensorProto } from '../../src/core/onnx/proto';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { mustParseFormat } from '../../src/shared/formats';
import { activationParams, QuantParams, scaleDims, weightParams } from '../../src/core/quant/qparams';
import { dequantize, fakeQuantizeFloat, quantize } from '../../src/core/quant/quantize';
import { containerType, integerTensor } from '../../src/core/quant/qdq-export';
import { mulberry32 } from '../../src/core/data/synthetic';

const rng = mulberry32;

/** Random values with heavy tails, exact ties (k + 0.5) * scale and values far outside the range. */
function sample(n: number, seed: number, params: QuantParams): Float32Array {
  const r = rng(seed);
  const x = new Float32Array(n);
  const s0 = params.scale[0];
  const span = (params.qmax - params.qmin) * s0;
  for (let i = 0; i < n; i++) {
    const u = r();
    if (i % 7 === 0) x[i] = (Math.floor((r() - 0.5) * (params.qmax - params.qmin + 8)) + 0.5) * s0; // ties (and beyond range)
    else if (i % 11 === 0) x[i] = (r() - 0.5) * span * 3; // saturation
    else x[i] = (u - 0.5) * span * 0.9 + (r() - 0.5) * s0;
  }
  return x;
}

/** A model x → QuantizeLinear → (q) → DequantizeLinear → y, with the parameters as initializers. */
function qdqModel(dims: number[], params: QuantParams, opset: number, fetchQ: boolean): Uint8Array {
  const g = new GraphBuilder('qdq');
  const type = containerType(params.format);
  g.input('x', DataType.FLOAT, dims);
  const sDims = scaleDims(dims, params);
  const s = g.initializer('scale', { type: DataType.FLOAT, dims: sDims, data: Float32Array.from(params.scale) });
  const zp: TensorProto = integerTensor('zp', params.zeroPoint, sDims, type);
  g.initializerProto(zp);
  const attrs = { axis: params.axis, block_size: params.blockSize };
  const q = g.node('QuantizeLinear', ['x', s, 'zp'], attrs, { output: 'q' });
  const y = g.node('DequantizeLinear', [q, s, 'zp'], attrs, { output: 'y' });
  if (fetchQ) g.output(q, type, dims);
  g.output(y, DataType.FLOAT, dims);
  return encodeModelProto(g.model(opset));
}

async function check(name: string, dims: number[], params: QuantParams, opset: number, seed: number): Promise<void> {
  const n = dims.reduce((a, b) => a * b, 1);
  const x = sample(n, seed, params);
  const type = containerType(params.format);
  const fetchQ = type !== DataType.INT4 && type !== DataType.UINT4; // fetching a 4-bit tensor kills the process
  const session = await ortBackend().createSession(qdqModel(dims, params, opset, fetchQ), { optimization: 'disabled', threads: 1 });
  try {
    const out = await session.run({ x: { type: DataType.FLOAT, dims, data: x } }, fetchQ ? ['q', 'y'] : ['y']);
    const mine = quantize(x, dims, params);
    const back = dequantize(mine, dims, params);
    if (fetchQ) {
      const q = out.q.data;
      let bad = 0;
      for (let i = 0; i < n; i++) if (q[i] !== mine[i]) { if (bad++ < 3) console.log(`${name}: x=${x[i]} ort=${q[i]} mine=${mine[i]}`); }
      assert.equal(bad, 0, `${name}: ${bad} of ${n} quantized values differ from ONNX Runtime`);
    }
    const y = out.y.data as Float32Array;
    let bad = 0;
    for (let i = 0; i < n; i++) if (!Object.is(y[i] + 0, back[i] + 0)) { if (bad++ < 3) console.log(`${name}: x=${x[i]} ort=${y[i]} mine=${back[i]}`); }
    assert.equal(bad, 0, `${name}: ${bad} of ${n} dequantized values differ from ONNX Runtime`);
    // The sample must exercise saturation at both ends and rounding ties.
    let lo = 0, hi = 0;
    for (let i = 0; i < n; i++) { if (mine[i] === params.qmin) lo++; if (mine[i] === params.qmax) hi++; }
    assert.ok(lo > 0 && hi > 0, `${name}: sample saturates at both ends`);
  } finally {
    await session.release();
  }
}

function perTensor(fmt: string, seed: number): QuantParams {
  const r = rng(seed);
  return activationParams(-1 - 3 * r(), 0.5 + 4 * r(), mustParseFormat(fmt));
}

/** Weight-style parameters on a random tensor (per-axis / blocked layouts). */
function fromWeights(fmt: string, dims: number[], channelAxis: number, reductionAxis: number, seed: number): QuantParams {
  const r = rng(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) w[i] = (r() - 0.3) * (1 + (i % 5));
  return weightParams(w, dims, mustParseFormat(fmt), channelAxis, reductionAxis);
}

const cases: { name: string; dims: number[]; params: () => QuantParams; opset: number }[] = [
  { name: 'int8 per-tensor', dims: [4, 1000], params: () => perTensor('int8', 1), opset: 13 },
  { name: 'uint8 per-tensor', dims: [4, 1000], params: () => perTensor('uint8', 2), opset: 13 },
  { name: 'int8 asym per-tensor', dims: [4, 1000], params: () => perTensor('int8/asym', 3), opset: 13 },
  { name: 'uint8 sym per-tensor', dims: [4, 1000], params: () => perTensor('uint8/sym', 4), opset: 13 },
  { name: 'int8 per-axis 0', dims: [16, 300], params: () => fromWeights('int8/per-channel', [16, 300], 0, 1, 5), opset: 13 },
  { name: 'uint8 per-axis 1', dims: [20, 12, 10], params: () => fromWeights('uint8/per-channel', [20, 12, 10], 1, 2, 6), opset: 13 },
  { name: 'int16 per-tensor', dims: [4000], params: () => perTensor('int16', 7), opset: 21 },
  { name: 'uint16 per-tensor', dims: [4000], params: () => perTensor('uint16', 8), opset: 21 },
  { name: 'int16 per-axis', dims: [8, 500], params: () => fromWeights('int16/per-channel', [8, 500], 0, 1, 9), opset: 21 },
  { name: 'int4 per-tensor', dims: [4000], params: () => perTensor('int4', 10), opset: 21 },
  { name: 'uint4 per-tensor', dims: [4000], params: () => perTensor('uint4', 11), opset: 21 },
  { name: 'int4 per-axis', dims: [16, 250], params: () => fromWeights('int4/per-channel', [16, 250], 0, 1, 12), opset: 21 },
  { name: 'uint4 per-axis', dims: [16, 250], params: () => fromWeights('uint4/per-channel', [16, 250], 0, 1, 13), opset: 21 },
  { name: 'int4 blocked 32 on axis 1', dims: [16, 200], params: () => fromWeights('int4/block:32', [16, 200], 0, 1, 14), opset: 21 },
  { name: 'uint4 blocked 16 on axis 0', dims: [100, 24], params: () => fromWeights('uint4/block:16', [100, 24], 1, 0, 15), opset: 21 },
  { name: 'int8 blocked 32 on axis 1 (conv-shaped)', dims: [8, 70, 3, 3], params: () => fromWeights('int8/block:32', [8, 70, 3, 3], 0, 1, 16), opset: 21 },
];

for (const c of cases) {
  test(`QuantizeLinear/DequantizeLinear match ONNX Runtime bit for bit: ${c.name}`, async () => {
    await check(c.name, c.dims, c.params(), c.opset, 100 + c.name.length);
  });
}

test('the sampler exercises exact ties', () => {
  const p = perTensor('int8', 1);
  const x = sample(2000, 3, p);
  let ties = 0;
  for (let i = 0; i < x.length; i++) { const v = Math.fround(x[i] / p.scale[0]); if (Math.abs(v - Math.trunc(v)) === 0.5) ties++; }
  assert.ok(ties > 50, `ties: ${ties}`);
});

for (const [name, type, opset] of [['float16', DataType.FLOAT16, 13], ['bfloat16', DataType.BFLOAT16, 13], ['float8e4m3fn', DataType.FLOAT8E4M3FN, 19], ['float8e5m2', DataType.FLOAT8E5M2, 19]] as const) {
  test(`fakeQuantizeFloat matches ONNX Runtime's Cast round trip: ${name}`, async () => {
    const r = rng(type);
    const n = 20000;
    const x = new Float32Array(n);
    const u32 = new Uint32Array(x.buffer);
    for (let i = 0; i < n; i++) {
      if (i % 3 === 0) u32[i] = (r() * 4294967296) >>> 0; // any bit pattern (ties, subnormals, huge)
      else x[i] = (r() - 0.5) * 2 ** Math.floor(r() * 40 - 20);
      if (!Number.isFinite(x[i])) x[i] = 0;
    }
    x[0] = 1 + 2 ** -11; x[1] = 1 + 2 ** -8; x[2] = 448 + 16; x[3] = -1e9; x[4] = 57344 + 4096;
    const g = new GraphBuilder('cast');
    g.input('x', DataType.FLOAT, [n]);
    const narrow = g.node('Cast', ['x'], { to: type });
    g.node('Cast', [narrow], { to: DataType.FLOAT }, { output: 'y' });
    g.output('y', DataType.FLOAT, [n]);
    const s = await ortBackend().createSession(encodeModelProto(g.model(opset)), { optimization: 'disabled', threads: 1 });
    try {
      const y = (await s.run({ x: { type: DataType.FLOAT, dims: [n], data: x } })).y.data as Float32Array;
      const mine = fakeQuantizeFloat(x, name);
      let bad = 0;
      for (let i = 0; i < n; i++) if (!Object.is(y[i], mine[i]) && !(Number.isNaN(y[i]) && Number.isNaN(mine[i]))) { if (bad++ < 3) console.log(`${name}: x=${x[i]} ort=${y[i]} mine=${mine[i]}`); }
      assert.equal(bad, 0, `${bad} of ${n} differ`);
    } finally {
      await s.release();
    }
  });
}
