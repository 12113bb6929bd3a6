// MSE initialisation of weight scales: the fast search (grouped values, ranked candidates, early stops) picks the same
// scales as the plain search over every candidate, for every granularity.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeQuantSpec, FqGranularity, qRange, quantizeValue, scaleDims } from '../../src/core/train/fake-quant';
import { initWeightScales } from '../../src/core/train/weight-init';
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

/** The scale index of flat element i (the scale tensor's row-major order). */
function groupOf(dims: number[], g: FqGranularity): (i: number) => number {
  if (g.kind === 'tensor') return () => 0;
  const inner = dims.slice(g.axis + 1).reduce((a, b) => a * b, 1);
  if (g.kind === 'channel') return (i) => Math.floor(i / inner) % dims[g.axis];
  const blocks = Math.ceil(dims[g.axis] / g.size);
  return (i) => {
    const o = Math.floor(i / (inner * dims[g.axis])), d = Math.floor(i / inner) % dims[g.axis], k = i % inner;
    return (o * blocks + Math.floor(d / g.size)) * inner + k;
  };
}

for (const [name, dims, g, bits] of [
  ['per-channel axis 0, int4', [6, 3, 3, 3], { kind: 'channel', axis: 0 }, 4],
  ['per-channel axis 1, int8', [40, 5], { kind: 'channel', axis: 1 }, 8],
  ['per-tensor, int3, 3000 values', [3000], { kind: 'tensor' }, 3],
  ['per-channel last axis, int8, 3 channels of 6000 values (ranked candidates)', [6000, 3], { kind: 'channel', axis: 1 }, 8],
  ['per-channel axis 1 of a 4-D weight (outer and inner)', [4, 6, 3, 3], { kind: 'channel', axis: 1 }, 8],
  ['per-tensor, int4, 20000 values (ranked candidates)', [20000], { kind: 'tensor' }, 4],
  ['blocks of 16 along axis 0 with an inner axis, int4', [64, 5], { kind: 'block', axis: 0, size: 16 }, 4],
  ['blocks of 8 along the last axis, ragged, int4', [3, 20], { kind: 'block', axis: 1, size: 8 }, 4],
  ['blocks of 4096 along the last axis (ranked candidates), int8', [2, 9000], { kind: 'block', axis: 1, size: 4096 }, 8],
] as [string, number[], FqGranularity, number][]) {
  test(`MSE weight scales ${name}: the same as the plain search`, () => {
    const rng = new Rng(dims.length * 7 + bits);
    const n = dims.reduce((a, b) => a * b, 1);
    // Heavy tails (where clipping wins) and a zero channel.
    const w = Float32Array.from({ length: n }, () => { const u = rng.uniform(-1, 1); return rng.next() < 0.02 ? u * 8 : u; });
    const count = scaleDims(dims, g).reduce((a, b) => a * b, 1);
    const group = groupOf(dims, g);
    if (g.kind === 'channel') w.forEach((_, i) => { if (group(i) === 1) w[i] = 0; });
    const spec: FakeQuantSpec = { tensor: 'w', uses: [], role: 'weight', bits, signed: true, granularity: g, scale: new Float32Array(count), zeroPoint: new Int32Array(count), learnScale: true };
    initWeightScales(spec, w, dims, 'mse');
    assert.deepEqual(Array.from(spec.scale), Array.from(reference(w, group, count, bits)));
    assert.ok(Array.from(spec.scale).some((s, c) => s !== 1 && c !== 1), 'scales were searched');
  });
}
