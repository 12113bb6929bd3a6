// Pure parts of the analysis: metrics, candidate and target parsing, HTML escaping, Pareto counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectOutputLayout, ErrorAccumulator, looksLikeProbabilities, MetricsAccumulator, sqnrDb, SQNR_CAP_DB } from '../../src/core/analysis/metrics';
import { parseCandidate, parseCandidates } from '../../src/core/analysis/candidates';
import { parseTarget } from '../../src/core/analysis/target';
import { escapeHtml } from '../../src/core/analysis/html-report';
import { meetsTarget, paretoCounts } from '../../src/core/analysis/recommend';
import { DataType } from '../../src/core/onnx/proto';
import { Tensor } from '../../src/core/onnx/tensor-data';

const t = (dims: number[], v: number[]): Tensor => ({ type: DataType.FLOAT, dims, data: Float32Array.from(v) });

test('SQNR, MSE and cosine of known signals', () => {
  assert.ok(Math.abs(sqnrDb([1, 1, 1, 1], [1.1, 0.9, 1.1, 0.9]) - 20) < 1e-9); // signal 4, noise 0.04
  assert.equal(sqnrDb([1, 2], [1, 2]), SQNR_CAP_DB);
  const e = new ErrorAccumulator();
  e.add([3, 4], [3, 4]);
  e.add([0, 0], [1, 1]);
  assert.equal(e.mse(), 0.5);
  assert.ok(Math.abs(e.cosine() - 25 / Math.sqrt(25 * 27)) < 1e-12);
});

test('classifier metrics: softmax of logits, probabilities not softmaxed twice, top-1 and accuracy', async () => {
  const ref = { y: t([2, 3], [2, 1, 0, 0, 3, 1]) };
  const test1 = { y: t([2, 3], [2, 1, 0, 0, 1, 3]) };
  const layout = detectOutputLayout(ref, ['y']);
  assert.equal(layout.classifier, 'y');
  const m = new MetricsAccumulator(layout);
  await m.add(ref, test1, Int32Array.of(0, 2));
  const r = m.result();
  assert.equal(r.top1Agreement, 0.5);
  assert.equal(r.accuracy, 1);
  assert.ok(r.klDiv! > 0);
  // identical probabilities: KL 0 (not softmax of probabilities, which would also give 0 but from different values)
  const p = { y: t([1, 2], [0.25, 0.75]) };
  assert.ok(looksLikeProbabilities(p.y.data as Float32Array, 2));
  const q = { y: t([1, 2], [0.5, 0.5]) };
  const mp = new MetricsAccumulator(detectOutputLayout(p, ['y']));
  await mp.add(p, q);
  const kl = 0.25 * Math.log(0.25 / 0.5) + 0.75 * Math.log(0.75 / 0.5);
  assert.ok(Math.abs(mp.result().klDiv! - kl) < 1e-9);
  assert.equal(detectOutputLayout({ f: t([1, 2, 2, 2], new Array(8).fill(0)) }, ['f']).classifier, undefined);
});

test('candidate formats and targets parse, and bad ones are refused', () => {
  assert.deepEqual(parseCandidate('w4-b32'), { id: 'w4-b32', weights: 'int4/block:32', activations: 'float' });
  assert.deepEqual(parseCandidate('w4a8'), { id: 'w4a8', weights: 'int4/per-channel', activations: 'uint8' });
  assert.deepEqual(parseCandidate('int4/block:64:uint8'), { id: 'w4-b64/a8', weights: 'int4/block:64', activations: 'uint8' });
  assert.equal(parseCandidates(['w8-pc,a16', 'w8-pc']).length, 2);
  assert.throws(() => parseCandidate('int3x'), /unknown format/);
  assert.throws(() => parseCandidate('int8:int8/per-channel'), /per tensor/);
  assert.deepEqual(parseTarget('sqnr:30'), { kind: 'min-sqnr-db', value: 30 });
  assert.deepEqual(parseTarget('drop:1%'), { kind: 'max-accuracy-drop', value: 0.01 });
  assert.deepEqual(parseTarget('size:120kB'), { kind: 'max-size-bytes', value: 120000 });
  assert.throws(() => parseTarget('speed:3'), /unknown target/);
});

test('targets are checked on measured metrics; Pareto counts cover 0 and all', () => {
  assert.equal(meetsTarget({ kind: 'min-sqnr-db', value: 30 }, { sqnrDb: 31, mse: 0, cosine: 1 }, 0), true);
  assert.equal(meetsTarget({ kind: 'max-accuracy-drop', value: 0.01 }, { sqnrDb: 0, mse: 0, cosine: 1, accuracy: 0.95 }, 0, 0.97), false);
  assert.equal(meetsTarget({ kind: 'max-accuracy-drop', value: 0.01 }, { sqnrDb: 0, mse: 0, cosine: 1, top1Agreement: 0.995 }, 0), true);
  assert.deepEqual(paretoCounts(3), [0, 1, 2, 3]);
  const c = paretoCounts(54);
  assert.equal(c[0], 0);
  assert.equal(c[c.length - 1], 54);
  assert.ok(c.length < 15);
});

test('HTML escaping', () => {
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
});

test('logitsKl equals the per-value softmax form, the 1e-12 floor on the test probabilities included', async () => {
  const { logitsKl } = await import('../../src/core/analysis/metrics');
  const textbook = (r: number[], t: number[]) => {
    const sm = (x: number[]) => { const m = Math.max(...x); const e = x.map((v) => Math.exp(v - m)); const s = e.reduce((a, b) => a + b, 0); return e.map((v) => v / s); };
    const pr = sm(r), pt = sm(t);
    return pr.reduce((k, p, c) => (p > 0 ? k + p * Math.log(p / Math.max(pt[c], 1e-12)) : k), 0);
  };
  let seed = 5;
  const rand = () => { seed = (seed * 16807) % 2147483647; return seed / 2147483647 - 0.5; };
  const cases: [number[], number[]][] = [
    [Array.from({ length: 1000 }, () => 8 * rand()), Array.from({ length: 1000 }, () => 8 * rand())],
    [[1, 2, 3], [1, 2, 3]],
    [[0, 0, 60], [0, 60, -80]], // the test gives class 2 less than 1e-12: floored, as the probability form does
    [[-Infinity, 0, 1], [0, 0, 1]], // a class the reference never picks adds nothing
  ];
  for (const [r0, t0] of cases) {
    const r = Float32Array.from(r0), t = Float32Array.from(t0);
    const want = textbook(Array.from(r), Array.from(t));
    const got = logitsKl(r, t, 0, r.length, new Float64Array(r.length));
    assert.ok(Math.abs(got - want) <= 1e-9 * Math.max(1, Math.abs(want)), `${got} vs ${want}`);
  }
});
