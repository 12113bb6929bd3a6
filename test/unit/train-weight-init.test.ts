// MSE initialisation of weight scales: the fast search picks the same scales as the plain search over every candidate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeQuantSpec, FqGranularity, qRange, quantizeValue, scaleDims } from '../../src/core/train/fake-quant';
import { initWeightScales } from '../../src/core/train/quant-plan';
import { Rng } from '../../src/core/train/random';

/** The plain search: absmax per group, then the candidate (k/20 of it, k = 20..3) with the least squared error. */
function reference(w: Float32Array, group: (i: number) => number, count: number, bits: number): Float32Array {
  const [qmin, qmax] = qRange(bits, true);
  const absmax = new Float64Array(count);
  w.forEach((v, i) => { absmax[group(i)] = Math.max(absmax[group(i)], Math.abs(v)); });
  return Float32Array.from(absmax, (a, c) => {
    if (!(a > 0)) return 1;
    let best = Infinity, bestS = a / qmax;
    for (let k = 20; k >= 3; k--) {
      const s = Math.fround((a * k) / 20 / qmax);
      let err = 0;
      w.forEach((v, i) => { if (group(i) === c) { const d = quantizeValue(v, s, 0, qmin, qmax) * s - v; err += d * d; } });
      if (err < best) { best = err; bestS = s; }
    }
    return bestS;
  });
}

for (const [name, dims, g, bits] of [
  ['per-channel axis 0, int4', [6, 3, 3, 3], { kind: 'channel', axis: 0 }, 4],
  ['per-channel axis 1, int8', [40, 5], { kind: 'channel', axis: 1 }, 8],
  ['per-tensor, int3, 3000 values', [3000], { kind: 'tensor' }, 3],
] as [string, number[], FqGranularity, number][]) {
  test(`MSE weight scales ${name}: the same as the plain search`, () => {
    const rng = new Rng(dims.length * 7 + bits);
    const n = dims.reduce((a, b) => a * b, 1);
    // Heavy tails (where clipping wins) and a zero channel.
    const w = Float32Array.from({ length: n }, () => { const u = rng.uniform(-1, 1); return rng.next() < 0.02 ? u * 8 : u; });
    const count = scaleDims(dims, g).reduce((a, b) => a * b, 1);
    const group = (i: number) => (g.kind === 'tensor' ? 0 : Math.floor(i / dims.slice(g.axis + 1).reduce((a, b) => a * b, 1)) % dims[g.axis]);
    if (g.kind === 'channel') w.forEach((_, i) => { if (group(i) === 1) w[i] = 0; });
    const spec: FakeQuantSpec = { tensor: 'w', uses: [], role: 'weight', bits, signed: true, granularity: g, scale: new Float32Array(count), zeroPoint: new Int32Array(count), learnScale: true };
    initWeightScales(spec, w, dims, 'mse');
    assert.deepEqual(Array.from(spec.scale), Array.from(reference(w, group, count, bits)));
    assert.ok(Array.from(spec.scale).some((s, c) => s !== 1 && c !== 1), 'scales were searched');
  });
}
