// The weight kernels' loops (per-channel ranges in column tiles, per-channel error energies with the totals summed in
// element order) give what the plain element-by-element definitions give, on the last axis and on inner axes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { weightErrors } from '../../src/core/analysis/sensitivity';
import { ErrorAccumulator, sqnrFromEnergies } from '../../src/core/analysis/metrics';
import { scaleZeroPoint, weightParams, asIntFormat } from '../../src/core/quant/qparams';
import { fakeQuantize, quantizeWeight } from '../../src/core/quant/quantize';
import { WeightNoise } from '../../src/core/analysis/weight-noise';
import { Rng } from '../../src/core/train/random';
import { mustParseFormat } from '../../src/shared/formats';

/** Channel index of flat element i for channels along `axis` of `dims`. */
const channelOf = (dims: number[], axis: number) => {
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  return (i: number) => Math.floor(i / inner) % dims[axis];
};

const weights = (dims: number[], seed: number) => {
  const rng = new Rng(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  // a wide channel every 7th (channel spreads) and a few outliers
  return Float32Array.from({ length: n }, () => { const u = rng.uniform(-1, 1); return rng.next() < 0.01 ? u * 9 : u; });
};

for (const [dims, axis] of [[[3, 1100], 1], [[1100, 3], 0], [[4, 5, 3, 3], 1], [[700, 600], 1]] as [number[], number][]) {
  test(`per-channel weight parameters along axis ${axis} of [${dims}]: each channel's own range`, () => {
    const w = weights(dims, dims[0] + axis);
    const f = mustParseFormat('int8/per-channel');
    const p = weightParams(w, dims, f, axis, 1 - Math.min(axis, 1));
    const ch = channelOf(dims, axis);
    const mn = new Array(dims[axis]).fill(Infinity), mx = new Array(dims[axis]).fill(-Infinity);
    w.forEach((v, i) => { mn[ch(i)] = Math.min(mn[ch(i)], v); mx[ch(i)] = Math.max(mx[ch(i)], v); });
    const want = mn.map((lo, c) => scaleZeroPoint(lo, mx[c], asIntFormat(f)));
    assert.deepEqual(Array.from(p.scale), want.map((r) => Math.fround(r.scale)));
    assert.deepEqual(Array.from(p.zeroPoint), want.map((r) => r.zeroPoint));
  });

  test(`weight errors along axis ${axis} of [${dims}]: per-channel SQNRs and the accumulator's total`, () => {
    const w = weights(dims, 31 + axis);
    const q = fakeQuantize(w, dims, weightParams(w, dims, mustParseFormat('int4/per-tensor'), axis, 0));
    const e = weightErrors(w, q, dims, axis);
    const acc = new ErrorAccumulator();
    acc.add(w, q);
    assert.equal(e.total, acc.sqnrDb());
    const ch = channelOf(dims, axis);
    const sig = new Array(dims[axis]).fill(0), noi = new Array(dims[axis]).fill(0);
    w.forEach((v, i) => { sig[ch(i)] += v * v; noi[ch(i)] += (v - q[i]) ** 2; });
    const want = sig.map((s, c) => Math.round(sqnrFromEnergies(s, noi[c]) * 1000) / 1000);
    assert.deepEqual(e.channels, want);
    assert.ok(new Set(want).size > 1, 'channels differ');
  });
}

test('weightErrors with a Fisher diagonal adds Σ G·(q − w)² in element order, and the same SQNRs', () => {
  let s = 3;
  const r = () => { s = (s * 1103515245 + 12345) >>> 0; return s / 2 ** 32 - 0.5; };
  for (const [dims, axis] of [[[6, 5], 1], [[4, 3, 2, 2], 0], [[7], 0], [[], 0]] as [number[], number][]) {
    const n = dims.reduce((a, b) => a * b, 1);
    const w = Float32Array.from({ length: n }, r), q = Float32Array.from(w, (v) => Math.fround(Math.round(v * 8) / 8));
    const G = Float32Array.from({ length: n }, () => Math.abs(r()));
    let e = 0;
    for (let i = 0; i < n; i++) { const v = q[i] - w[i]; e += G[i] * v * v; }
    const plain = weightErrors(w, q, dims, axis);
    const withG = weightErrors(w, q, dims, axis, G);
    assert.equal(withG.weighted, e, `dims [${dims}]`);
    assert.deepEqual({ total: withG.total, channels: withG.channels }, plain);
    assert.ok(!('weighted' in plain));
  }
});

// The screening's fused pass (weight-noise.ts): quantizing as it sums, channel ranges shared between formats; the same
// numbers to the last bit as quantizeWeight + weightErrors, on the last axis, on inner axes and for fallback formats.
for (const [dims, axis] of [[[64, 96], 1], [[12, 5, 3, 3], 0], [[40, 30], 0], [[4, 5, 3, 3], 1]] as [number[], number][]) {
  test(`fused weight noise along axis ${axis} of [${dims}] = quantizeWeight + weightErrors, every format`, () => {
    const w = weights(dims, 7 + dims[0]);
    const rng = new Rng(3);
    const G = Float32Array.from({ length: w.length }, () => rng.next() * 2);
    const reduction = axis === 0 ? 1 : 0;
    const noise = new WeightNoise(w, dims, axis, reduction);
    for (const name of ['int8/per-channel', 'int4/per-channel', 'uint8/per-channel', 'int8/per-tensor', 'int4/per-tensor', 'int4/block:8', `int8/per-channel:${reduction}`]) {
      const f = mustParseFormat(name);
      const q = quantizeWeight(w, dims, f, axis, reduction).fake;
      assert.deepEqual(noise.errors(f, G), weightErrors(w, q, dims, axis, G), name);
    }
  });
}
