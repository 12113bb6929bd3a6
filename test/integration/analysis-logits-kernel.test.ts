// The ONNX Runtime KL/argmax graph of many-class logits gives what the JS float64 loop gives (KL to 1e-9, same top-1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { LogitsKernel } from '../../src/core/analysis/logits-kernel';
import { KERNEL_MIN_VALUES, logitsKl, MetricsAccumulator } from '../../src/core/analysis/metrics';
import { DataType } from '../../src/core/onnx/proto';

const backend = ortBackend();

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

function firstMax(x: Float32Array, off: number, n: number): number {
  let best = 0;
  for (let c = 1; c < n; c++) if (x[off + c] > x[off + best]) best = c;
  return best;
}

/** Rows of reference logits and a perturbed copy: some rows far apart (floor of 1e-12 hit), some with tied maxima. */
function logits(rows: number, classes: number, seed: number): { ref: Float32Array; test: Float32Array } {
  const g = random(seed);
  const ref = new Float32Array(rows * classes), test = new Float32Array(rows * classes);
  for (let i = 0; i < ref.length; i++) { ref[i] = (g() - 0.5) * 12; test[i] = ref[i] + (g() - 0.5) * 0.3; }
  for (let row = 0; row < rows; row++) {
    const off = row * classes;
    if (row % 7 === 3) for (let c = 0; c < classes; c += 5) test[off + c] = -80; // log p_t below log 1e-12
    if (row % 11 === 5) { ref[off + 10] = ref[off + 20] = 50; test[off + 30] = test[off + 40] = 50; } // ties: first index wins
    if (row % 13 === 6) ref[off + 3] = 90; // a peaked reference (p of most classes underflows)
    if (row % 17 === 8) ref[off + 7] = ref[off + 9] = -Infinity; // classes the reference rules out: they add nothing
  }
  return { ref, test };
}

test('the KL graphs match the JS float64 KL per row and both argmaxes, across chunks, with the reference read once', async () => {
  const classes = 1200, rows = 500; // 600k values: three runs of each session
  const { ref, test: t0 } = logits(rows, classes, 7);
  const t1 = Float32Array.from(t0, (v, i) => v + (((i * 7919) % 13) - 6) * 0.02); // another configuration against the same reference
  const k = new LogitsKernel(backend);
  try {
    for (const [t, key] of [[t0, undefined], [t0, 'r'], [t1, 'r']] as const) {
      const out = await k.rows(ref, t, classes, key);
      const buf = new Float64Array(classes);
      let worst = 0;
      for (let row = 0; row < rows; row++) {
        const js = logitsKl(ref, t, row * classes, classes, buf);
        worst = Math.max(worst, Math.abs(out.kl[row] - js) / Math.max(Math.abs(js), 1e-300));
        assert.equal(Number(out.refTop[row]), firstMax(ref, row * classes, classes), `ref top-1 of row ${row}`);
        assert.equal(Number(out.testTop[row]), firstMax(t, row * classes, classes), `test top-1 of row ${row}`);
      }
      assert.ok(worst < 1e-9, `worst relative KL difference ${worst}`);
    }
  } finally {
    await k.release();
  }
});

test('MetricsAccumulator gives the same metrics with and without the kernel (and reopens it after release)', async () => {
  const samples = 4, tokens = 3, classes = KERNEL_MIN_VALUES / samples; // even the one-row-per-sample batch takes the kernel
  const layout = { floatOutputs: ['y'], classifier: 'y' };
  let opened = 0;
  const k = new LogitsKernel({ version: backend.version, createSession: (m, o) => { opened++; return backend.createSession(m, o); } });
  try {
    const a = new MetricsAccumulator(layout, k), b = new MetricsAccumulator(layout);
    for (let batch = 0; batch < 3; batch++) {
      const { ref, test: t } = logits(samples * tokens, classes, 100 + batch);
      const r = { y: { type: DataType.FLOAT, dims: [samples, tokens, classes], data: ref } };
      const q = { y: { type: DataType.FLOAT, dims: [samples, tokens, classes], data: t } };
      await a.add(r, q);
      await b.add(r, q);
      if (batch === 1) await k.release();
    }
    const ma = a.result(), mb = b.result();
    assert.ok(Math.abs(ma.klDiv! - mb.klDiv!) <= 1e-9 * mb.klDiv!, `${ma.klDiv} vs ${mb.klDiv}`);
    assert.equal(ma.top1Agreement, mb.top1Agreement);
    assert.ok(mb.top1Agreement! > 0 && mb.top1Agreement! < 1);
    assert.equal(ma.sqnrDb, mb.sqnrDb);
    // one row per sample: accuracy from the test argmax
    const { ref, test: t } = logits(samples, classes, 9);
    const labels = Int32Array.from({ length: samples }, (_, i) => (i % 2 ? firstMax(t, i * classes, classes) : 0));
    const c = new MetricsAccumulator(layout, k), d = new MetricsAccumulator(layout);
    const r = { y: { type: DataType.FLOAT, dims: [samples, classes], data: ref } };
    const q = { y: { type: DataType.FLOAT, dims: [samples, classes], data: t } };
    await c.add(r, q, labels);
    await d.add(r, q, labels);
    assert.equal(c.result().accuracy, d.result().accuracy);
    assert.equal(opened, 4, 'both sessions, opened again after the release');
    assert.ok(c.result().accuracy! >= 0.5);
  } finally {
    await k.release();
  }
});
