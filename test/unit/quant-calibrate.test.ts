// Calibrators on known distributions: min-max, percentile, MSE-optimal clipping, entropy (KL).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mustParseFormat } from '../../src/shared/formats';
import { createCalibrator, EntropyCalibrator, HISTOGRAM_BINS, MAX_ENTROPY_CLIPPED, MinMaxCalibrator, MseCalibrator, PercentileCalibrator, StreamingHistogram } from '../../src/core/quant/calibrate';
import { activationParams } from '../../src/core/quant/qparams';
import { isQuantLensError } from '../../src/core/errors';
import { fakeQuantize } from '../../src/core/quant/quantize';
import { mulberry32 } from '../../src/core/data/synthetic';

const rng = mulberry32;
const gauss = (r: () => number) => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());

/** Feeds `n` samples of `gen` in batches of 1000. */
function feed(cal: { observe(x: Float32Array): void }, n: number, gen: () => number): Float32Array {
  const all = new Float32Array(n);
  for (let i = 0; i < n; i += 1000) {
    const b = new Float32Array(Math.min(1000, n - i));
    for (let k = 0; k < b.length; k++) b[k] = gen();
    all.set(b, i);
    cal.observe(b);
  }
  return all;
}

/** Quantization MSE of `x` with the range [min, max] in `format`. */
function mse(x: Float32Array, range: { min: number; max: number }, fmt: string): number {
  const q = fakeQuantize(x, [x.length], activationParams(range.min, range.max, mustParseFormat(fmt)));
  let s = 0;
  for (let i = 0; i < x.length; i++) s += (x[i] - q[i]) ** 2;
  return s / x.length;
}

test('min-max tracks the exact extremes across batches', () => {
  const c = new MinMaxCalibrator();
  assert.deepEqual(c.range(), { min: 0, max: 0 });
  c.observe(Float32Array.from([1, 2, -0.5]));
  c.observe(Float32Array.from([7, 0]));
  assert.deepEqual(c.range(), { min: -0.5, max: 7 });
});

test('the streaming histogram keeps every count when its range doubles', () => {
  const h = new StreamingHistogram();
  h.observe(Float32Array.from([0, 0]));
  h.observe(Float32Array.from([-1, 0.5, 1]));
  const r1 = h.radius;
  h.observe(Float32Array.from([-5, 3, 4.5]));
  assert.equal(r1, 1);
  assert.equal(h.radius, 8);
  assert.equal(h.counts.reduce((a, b) => a + b, 0), 8);
  assert.equal(h.total, 8);
  // 0 sits in the bin just right of the centre; -5 in the bin covering [-5, -5 + width)
  assert.equal(h.counts[HISTOGRAM_BINS / 2], 2);
  assert.equal(h.counts[Math.floor((-5 + 8) / h.binWidth)], 1);
});

test('percentile of a uniform sample (symmetric: |x|; asymmetric: both tails)', () => {
  const r = rng(1);
  const sym = new PercentileCalibrator(99, true);
  feed(sym, 100_000, () => r() * 2 - 1);
  const s = sym.range();
  assert.ok(Math.abs(s.max - 0.99) < 0.01 && Math.abs(s.min + 0.99) < 0.01, JSON.stringify(s));
  const asym = new PercentileCalibrator(98, false);
  feed(asym, 100_000, () => r() * 10);
  const a = asym.range();
  assert.ok(Math.abs(a.min - 0.1) < 0.05 && Math.abs(a.max - 9.9) < 0.05, JSON.stringify(a));
  // post-ReLU data keeps min at 0 (the range never leaves the observed one)
  const relu = new PercentileCalibrator(99.9, true);
  feed(relu, 20_000, () => Math.max(0, gauss(r)));
  assert.equal(relu.range().min, 0);
});

test('MSE clipping: below the max on a heavy-tailed (Laplace) sample at 4 bits, with less error than min-max', () => {
  const r = rng(2);
  const cal = new MseCalibrator(mustParseFormat('int4'));
  const mm = new MinMaxCalibrator();
  const laplace = () => (r() < 0.5 ? -1 : 1) * -Math.log(1 - r());
  const x = feed({ observe: (b) => { cal.observe(b); mm.observe(b); } }, 50_000, laplace);
  const clipped = cal.range();
  const full = mm.range();
  // ACIQ (Banner et al.) puts the optimum near 5 b for 4-bit Laplace; the max of 50k samples is ~11 b.
  assert.ok(clipped.max > 3 && clipped.max < 0.7 * full.max, `clip ${clipped.max} vs max ${full.max}`);
  assert.ok(mse(x, clipped, 'int4') < 0.7 * mse(x, full, 'int4'), 'clipping lowers the actual quantization MSE');
});

test('MSE clipping keeps (nearly) the full range for a uniform sample and at 16 bits', () => {
  const r = rng(3);
  const u = new MseCalibrator(mustParseFormat('int8'));
  feed(u, 20_000, () => r() * 2 - 1);
  assert.ok(u.range().max > 0.95, JSON.stringify(u.range()));
  const w16 = new MseCalibrator(mustParseFormat('int16'));
  feed(w16, 20_000, () => gauss(r));
  assert.ok(w16.range().max > 0.9 * w16.hist.exact.range().max);
});

test('entropy: a Gaussian at 8 bits clips between 2 sigma and the max; 16 bits and uniform keep the range', () => {
  const r = rng(4);
  const g = new EntropyCalibrator(mustParseFormat('int8'));
  feed(g, 100_000, () => gauss(r));
  const t = g.range().max;
  const mx = g.hist.exact.range().max;
  assert.ok(t > 2 && t < mx, `threshold ${t}, max ${mx}`);
  const u = new EntropyCalibrator(mustParseFormat('uint8'));
  feed(u, 100_000, () => r() * 4);
  assert.ok(u.range().max > 3.6, JSON.stringify(u.range()));
  const w = new EntropyCalibrator(mustParseFormat('int16'));
  feed(w, 10_000, () => gauss(r));
  assert.deepEqual(w.range(), w.hist.exact.range());
});

test('entropy: a spike at zero (sigmoid background, ReLU zeros) does not collapse the range (PaddleOCR det)', () => {
  // det's sigmoid probability map on text pages: ~94% background at ~1e-4, ~6% text saturated at ~1, a thin spread
  // between. The spike in the first |x| bin used to dominate KL(P || Q) (spread over its merge group in Q) and
  // pulled the threshold down to ~0.2, below the 0.3 binarization threshold: every text pixel was lost.
  const r = rng(5);
  const sig = new EntropyCalibrator(mustParseFormat('uint8'));
  const probs = feed(sig, 50_000, () => {
    const u = r();
    return u < 0.937 ? r() * 2e-4 : u < 0.993 ? 1 - r() * 2e-4 : r();
  });
  const s = sig.range();
  assert.ok(s.max > 0.9, `sigmoid map range ${JSON.stringify(s)}`);
  const q = fakeQuantize(probs, [probs.length], activationParams(s.min, s.max, mustParseFormat('uint8')));
  let text = 0;
  let kept = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i] > 0.3) { text++; if (q[i] > 0.3) kept++; }
  assert.ok(text > 0 && kept === text, `${kept} of ${text} text pixels stay above 0.3`);
  // ReLU output: 60% exact zeros + a half-Gaussian. Zeros are exact in any quantizer and must not move the
  // threshold far from the one of the non-zero part alone (it used to sit at the smallest candidate, 1/4 of it).
  const withZeros = new EntropyCalibrator(mustParseFormat('uint8'));
  const nonZero = new EntropyCalibrator(mustParseFormat('uint8'));
  const r2 = rng(6);
  for (let b = 0; b < 50; b++) {
    const x = new Float32Array(2000);
    for (let k = 0; k < x.length; k++) x[k] = r2() < 0.6 ? 0 : Math.abs(gauss(r2));
    withZeros.observe(x);
    nonZero.observe(x.filter((v) => v !== 0));
  }
  const tz = withZeros.range().max;
  const tn = nonZero.range().max;
  assert.ok(Math.abs(tz - tn) < 0.15 * tn, `threshold with zeros ${tz}, without ${tn}`);
});

test('entropy: spikes (constant image regions, ReLU6 saturation) do not make it clip most of the values (PaddleOCR det)', () => {
  // det's first ReLU6 on rendered pages: 8% saturated at 6, a few constant-background spikes of 5% each (one
  // just below 6/8, the smallest candidate threshold for uint8), the rest spread. KL used to pick 0.75, clipping
  // 94% of the values: Q, normalized over the unclipped values, matched P's clipped-mass-laden last bin.
  const r = rng(7);
  const spikes = [0.749, 3.93, 4.49, 4.62, 5.39];
  const c = new EntropyCalibrator(mustParseFormat('uint8'));
  const x = feed(c, 50_000, () => {
    const u = r();
    return u < 0.08 ? 6 : u < 0.33 ? spikes[Math.floor((u - 0.08) / 0.05)] : r() * 6;
  });
  const { max } = c.range();
  const clipped = x.filter((v) => v > max).length / x.length;
  assert.ok(clipped <= MAX_ENTROPY_CLIPPED, `threshold ${max} clips ${(clipped * 100).toFixed(1)}% of the values`);
  assert.ok(mse(x, c.range(), 'uint8') <= 1.5 * mse(x, { min: 0, max: 6 }, 'uint8'));
});

test('createCalibrator picks the method; float formats get min-max', () => {
  const f = mustParseFormat('int8');
  assert.ok(createCalibrator({ method: 'minmax' }, f) instanceof MinMaxCalibrator);
  assert.ok(createCalibrator({ method: 'percentile', percentile: 99.9 }, f) instanceof PercentileCalibrator);
  assert.ok(createCalibrator({ method: 'mse' }, f) instanceof MseCalibrator);
  assert.ok(createCalibrator({ method: 'entropy' }, f) instanceof EntropyCalibrator);
  assert.ok(createCalibrator({ method: 'entropy' }, mustParseFormat('float16')) instanceof MinMaxCalibrator);
  const empty = createCalibrator({ method: 'mse' }, f);
  assert.deepEqual(empty.range(), { min: 0, max: 0 });
});

test('infinite activations are reported as a QuantLensError; NaNs are ignored', () => {
  for (const spec of [{ method: 'minmax' }, { method: 'mse' }] as const) {
    const c = createCalibrator(spec, mustParseFormat('int8'));
    assert.throws(() => { c.observe(Float32Array.of(1, Infinity)); c.range(); }, (e: unknown) => isQuantLensError(e));
  }
  const c = createCalibrator({ method: 'percentile', percentile: 100 }, mustParseFormat('int8'));
  c.observe(Float32Array.of(NaN, 1, -2, NaN));
  assert.deepEqual(c.range(), { min: -2, max: 1 });
});
