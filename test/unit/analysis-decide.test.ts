// Where repair runs by default: every layer of a small model; on a large one, the layers around the predicted boundary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BOUNDARY_MEASURED, DecideOptions, predictedBoundary, REPAIR_ALL_UP_TO, REPAIR_MAX, repairLayers, repairTooCostly } from '../../src/core/analysis/decide';
import { parseCandidate } from '../../src/core/analysis/candidates';
import { QuantLayer } from '../../src/core/onnx/layer';

const layer = (i: number): QuantLayer => ({ name: `l${i}`, params: 1000, activationInputs: [`x${i}`], weight: { tensor: `w${i}`, dims: [10, 100], channelAxis: 0 } } as unknown as QuantLayer);

function opts(n: number, targetDb: number): DecideOptions {
  const layers = Array.from({ length: n }, (_, i) => layer(i));
  const base = parseCandidate('w4a8'), higher = parseCandidate('w8a8');
  // layer i: base SQNR 30 + i dB (l0 the noisiest), higher 60 dB
  return { layers, reports: [], candidates: [base, higher], primary: base.id, base, higher, estimate: (l, c) => (c.id === higher.id ? 60 : 30 + Number(l.name.slice(1))), target: { kind: 'min-sqnr-db', value: targetDb }, unsupported: new Map() };
}

test('small models get repair candidates on every layer', () => {
  const o = opts(REPAIR_ALL_UP_TO, 40);
  assert.equal(repairLayers(o, new Set()).length, REPAIR_ALL_UP_TO);
});

test('large models get repair candidates on the noisiest layers the predicted curve keeps or nearly keeps', () => {
  const o = opts(54, 40);
  const b = predictedBoundary(o)!;
  assert.ok(b.kept + BOUNDARY_MEASURED > REPAIR_MAX, `kept ${b.kept}`);
  const names = repairLayers(o, new Set(['l53'])).map((l) => l.name);
  // l0 is the noisiest (30 dB), l1 the next...; l53 (measured, screened, not kept) is not added
  assert.deepEqual(names, Array.from({ length: REPAIR_MAX }, (_, i) => `l${i}`));
  // a layer past the window is never tried, however it ranks
  const few = opts(54, 33);
  const kept = predictedBoundary(few)!.kept;
  assert.ok(repairLayers(few, new Set()).length <= Math.min(REPAIR_MAX, kept + BOUNDARY_MEASURED));
});

test('measured isolated SQNR takes precedence over the estimate in the boundary order', () => {
  const o = opts(20, 40);
  const reports = o.layers.map((l) => ({ name: l.name, formats: l.name === 'l19' ? { [o.base.id]: { isolated: { sqnrDb: 0, mse: 1, cosine: 0 } } } : {} })) as unknown as DecideOptions['reports'];
  assert.equal(predictedBoundary({ ...o, reports })!.order[0].name, 'l19');
  assert.equal(predictedBoundary(o)!.order[0].name, 'l0');
});

test('the terminal summary says which layers repair was not computed on', async () => {
  const { summarizeReport } = await import('../../src/cli/commands/analyze');
  const layer = (name: string, rank: number, extra: object) => ({ name, kind: 'conv', rank, formats: {}, diagnoses: [], ...extra });
  const report = {
    model: { layerCount: 2 }, data: { samples: 4, synthetic: true }, timings: { totalMs: 1000 }, method: { measure: 'decisive', measuredLayers: 1, repairedLayers: 1 },
    formats: [], allQuantized: {}, primaryFormat: 'w4a8', warnings: [],
    layers: [layer('a', 1, { repair: { weights: 'int4/per-channel', rtnSqnrDb: 20, algorithms: { gptq: 23 }, best: 'gptq' } }), layer('b', 2, { repairNotComputed: 'not-decisive' })],
  } as unknown as Parameters<typeof summarizeReport>[0];
  const text = summarizeReport(report);
  assert.match(text, /b\s+-\s+-\s+not computed \(not decisive\)/);
  assert.match(text, /Repair ran on 1 layer\(s\).*1 not computed/);
});

test('layers too large to repair in reasonable time are named: fan-in over 8192 or over 64M values', () => {
  const w = (dims: number[], channelAxis = 0) => ({ name: 'x', weight: { tensor: 'w', dims, channelAxis } } as unknown as QuantLayer);
  assert.equal(repairTooCostly(w([1000, 2048])), false); // ResNet-50's fc
  assert.equal(repairTooCostly(w([768, 50257], 1)), false); // a GPT head: fan-in 768
  assert.equal(repairTooCostly(w([12288, 12288])), true); // the big MLP's layers
  assert.equal(repairTooCostly(w([512, 512, 3, 3])), false); // a conv: fan-in 4608
  assert.equal(repairTooCostly(w([100_000, 1000])), true); // 100M values
  assert.equal(repairTooCostly({ name: 'g' } as QuantLayer), false);
});
