// Optimizer graphs (SGD with momentum, Adam, AdamW, L2, global-norm clipping) against a JS reference over several steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../src/core/onnx/builder';
import { DataType, encodeModelProto } from '../../src/core/onnx/proto';
import { Tensor } from '../../src/core/onnx/tensor-data';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { GradContext } from '../../src/core/train/grad-context';
import { emitOptimizer, OPT_INPUTS, OptimizerSpec } from '../../src/core/train/optimizer';

const f64 = (dims: number[], data: number[]): Tensor => ({ type: DataType.DOUBLE, dims, data: Float64Array.from(data) });

async function runSteps(spec: OptimizerSpec, p0: number[][], grads: number[][][], lr: number, chunkValues?: number) {
  const b = new GraphBuilder();
  const ctx = new GradContext(b, DataType.DOUBLE, new Map(), new Set(), () => undefined);
  const params = p0.map((v, i) => ({ name: b.input(`p${i}`, DataType.DOUBLE, [v.length]), dims: [v.length], grad: b.input(`g${i}`, DataType.DOUBLE, [v.length]), decay: true }));
  b.input(OPT_INPUTS.lr, DataType.DOUBLE, []);
  if (spec.kind !== 'sgd') { b.input(OPT_INPUTS.bc1, DataType.DOUBLE, []); b.input(OPT_INPUTS.bc2, DataType.DOUBLE, []); }
  const u = emitOptimizer(ctx, spec, params, { chunkValues });
  const state = u.state;
  const outs = [...u.newParams, ...u.newState];
  for (const o of outs) b.output(o, DataType.DOUBLE);
  const s = await ortBackend().createSession(encodeModelProto(b.model(17)), { threads: 1 });
  let cur = p0.map((v) => v.slice());
  let st = state.map((x) => new Array(x.dims[0]).fill(0));
  try {
    for (let t = 0; t < grads.length; t++) {
      const feeds: Record<string, Tensor> = { [OPT_INPUTS.lr]: f64([], [lr]) };
      if (spec.kind !== 'sgd') { feeds[OPT_INPUTS.bc1] = f64([], [1 - (spec.beta1 ?? 0.9) ** (t + 1)]); feeds[OPT_INPUTS.bc2] = f64([], [1 - (spec.beta2 ?? 0.999) ** (t + 1)]); }
      cur.forEach((v, i) => { feeds[`p${i}`] = f64([v.length], v); feeds[`g${i}`] = f64([v.length], grads[t][i]); });
      state.forEach((n, i) => { feeds[n.name] = f64([st[i].length], st[i]); });
      const r = await s.run(feeds);
      cur = u.newParams.map((o) => Array.from(r[o].data as Float64Array));
      st = u.newState.map((o) => Array.from(r[o].data as Float64Array));
    }
  } finally {
    await s.release();
  }
  return cur;
}

function reference(spec: OptimizerSpec, p0: number[][], grads: number[][][], lr: number): number[][] {
  const p = p0.map((v) => v.slice());
  const m = p0.map((v) => v.map(() => 0)), v2 = p0.map((v) => v.map(() => 0));
  const wd = spec.weightDecay ?? 0;
  grads.forEach((gs, t) => {
    const norm = Math.sqrt(gs.flat().reduce((a, g) => a + g * g, 0));
    const f = spec.clipNorm ? Math.min(1, spec.clipNorm / (norm + 1e-12)) : 1;
    p.forEach((w, i) => w.forEach((_, j) => {
      let g = gs[i][j] * f;
      if (wd && spec.kind !== 'adamw') g += wd * w[j];
      let step: number;
      if (spec.kind === 'sgd') { m[i][j] = (spec.momentum ?? 0.9) * m[i][j] + g; step = m[i][j]; }
      else {
        const b1 = spec.beta1 ?? 0.9, b2 = spec.beta2 ?? 0.999;
        m[i][j] = b1 * m[i][j] + (1 - b1) * g;
        v2[i][j] = b2 * v2[i][j] + (1 - b2) * g * g;
        step = (m[i][j] / (1 - b1 ** (t + 1))) / (Math.sqrt(v2[i][j] / (1 - b2 ** (t + 1))) + (spec.eps ?? 1e-8));
        if (spec.kind === 'adamw' && wd) step += wd * w[j];
      }
      w[j] -= lr * step;
    }));
  });
  return p;
}

const p0 = [[0.5, -1, 2], [0.1, 0.2, -0.3]];
const grads = Array.from({ length: 5 }, (_, t) => [[Math.sin(t), 2 * Math.cos(t), -1], [3, -t, 0.5]]);

for (const spec of [
  { kind: 'sgd', momentum: 0.9 }, { kind: 'sgd', momentum: 0.9, weightDecay: 0.01, clipNorm: 1 },
  { kind: 'adam' }, { kind: 'adam', weightDecay: 0.1 }, { kind: 'adamw', weightDecay: 0.1, clipNorm: 0.5 },
] as OptimizerSpec[]) {
  test(`optimizer ${JSON.stringify(spec)} matches the reference over 5 steps`, async () => {
    const got = await runSteps(spec, p0, grads, 0.05);
    const want = reference(spec, p0, grads, 0.05);
    got.flat().forEach((v, i) => assert.ok(Math.abs(v - want.flat()[i]) < 1e-12, `${v} vs ${want.flat()[i]}`));
    assert.notDeepEqual(got, p0);
  });
}

test('a group larger than the chunk size is updated in chunks of whole tensors, with the same result', async () => {
  const p3 = [[0.5, -1, 2], [0.1, 0.2], [0.3, -0.7, 0.9, 1.1], [-2]];
  const g3 = Array.from({ length: 4 }, (_, t) => [[Math.sin(t), 2, -1], [3, -t], [0.5, t, -0.25, 1], [Math.cos(t)]]);
  for (const spec of [{ kind: 'adamw', weightDecay: 0.1, clipNorm: 0.5 }, { kind: 'sgd', momentum: 0.9, weightDecay: 0.01 }] as OptimizerSpec[]) {
    const got = await runSteps(spec, p3, g3, 0.05, 5);
    const want = reference(spec, p3, g3, 0.05);
    got.flat().forEach((v, i) => assert.ok(Math.abs(v - want.flat()[i]) < 1e-12, `${v} vs ${want.flat()[i]}`));
  }
  const b = new GraphBuilder();
  const ctx = new GradContext(b, DataType.DOUBLE, new Map(), new Set(), () => undefined);
  const entries = p3.map((v, i) => ({ name: b.input(`p${i}`, DataType.DOUBLE, [v.length]), dims: [v.length], grad: b.input(`g${i}`, DataType.DOUBLE, [v.length]), decay: true }));
  // 3 + 2 values fill a chunk of 5, 4 + 1 the next: two chunks, each with its m and v.
  assert.deepEqual(emitOptimizer(ctx, { kind: 'adam' }, entries, { chunkValues: 5 }).state.map((st) => st.dims[0]), [5, 5, 5, 5]);
});
