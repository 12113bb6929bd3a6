// The decision in the report panel: the recommendation re-chosen from measured Pareto points when the target changes,
// the selection checked against the target, one size definition; evidence and formats in words.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AnalysisReport, ParetoPoint, Recommendation } from '../../src/shared/report';
import { configurationBytes, floatModelBytes, otherParamsFromFloatBytes, weightBits } from '../../src/shared/sizes';
import { checkSelection, decide, selectionBytes } from '../../webview/decision';
import { niceTicks } from '../../webview/chart-geometry';
import { evidenceText, formatLegend } from '../../webview/words';

const layers = ['a', 'b', 'c', 'd'].map((name, i) => ({ name, params: 1000 * (i + 1) }));
const other = 500;
const size = (keep: string[]) => configurationBytes(layers, other, new Set(keep), 4, 8);
const pt = (kept: string[], db: number, verified = true): ParetoPoint => ({ kept, sizeBytes: size(kept), metrics: { sqnrDb: db, mse: 0, cosine: 1 }, verified });
const pareto = [pt([], 12), pt(['d'], 18), pt(['d', 'c'], 24), pt(['d', 'c', 'b'], 27, false), pt(['d', 'c', 'b', 'a'], 29)];
const rec: Recommendation = {
  base: { id: 'w4', weights: 'int4/per-channel', activations: 'float' }, higher: { id: 'w8', weights: 'int8/per-channel', activations: 'float' },
  target: { kind: 'min-sqnr-db', value: 20 }, met: true, message: 'analysis', keep: ['d', 'c'], metrics: pareto[2].metrics,
  sizeBytes: pareto[2].sizeBytes, floatSizeBytes: floatModelBytes(layers, other), baseSizeBytes: size([]), pareto, recipe: { version: 1, model: 'm.onnx', defaults: {}, layers: {} },
};
const report = { layers, recommendation: rec } as unknown as AnalysisReport;

describe('decide', () => {
  it('keeps the analysis recommendation for its own target', () => {
    const d = decide(rec, { kind: 'min-sqnr-db', value: 20 });
    assert.equal(d.rechosen, false);
    assert.deepEqual(d.keep, ['d', 'c']);
  });
  it('re-chooses the smallest measured point that meets a new SQNR target (estimated points skipped)', () => {
    const d = decide(rec, { kind: 'min-sqnr-db', value: 25 });
    assert.ok(d.rechosen && d.met);
    assert.deepEqual(d.keep, ['d', 'c', 'b', 'a'], 'the 27 dB point is only estimated');
    assert.match(d.message, /Re-chosen from 4 measured points/);
  });
  it('for a size target, the best measured point within the size; unreachable targets are marked not met', () => {
    const d = decide(rec, { kind: 'max-size-bytes', value: size(['d']) });
    assert.deepEqual(d.keep, ['d']);
    const no = decide(rec, { kind: 'min-sqnr-db', value: 40 });
    assert.equal(no.met, false);
    assert.deepEqual(no.keep, ['d', 'c', 'b', 'a']);
  });
});

describe('checkSelection', () => {
  it('a stale selection misses a raised target; an unmeasured one is unknown until evaluated', () => {
    const t = { kind: 'min-sqnr-db' as const, value: 25 };
    assert.equal(checkSelection(report, new Set(['d']), t).state, 'misses');
    assert.match(checkSelection(report, new Set(['d']), t).text, /measures output SQNR 18\.0 dB: it misses output SQNR ≥ 25 dB/);
    assert.equal(checkSelection(report, new Set(['a']), t).state, 'unknown');
    assert.equal(checkSelection(report, new Set(['a']), t, { keep: ['a'], metrics: { sqnrDb: 26, mse: 0, cosine: 1 } }).state, 'meets');
  });
});

describe('one size definition', () => {
  it('the panel computes the same bytes as the Pareto points, and never less for more kept layers', () => {
    for (const p of pareto) assert.equal(selectionBytes(report, new Set(p.kept)), p.sizeBytes);
    assert.equal(otherParamsFromFloatBytes(layers, rec.floatSizeBytes), other);
    const sizes = [[], ['a'], ['a', 'b'], ['a', 'b', 'c']].map((k) => size(k));
    for (let i = 1; i < sizes.length; i++) assert.ok(sizes[i] > sizes[i - 1]);
    assert.equal(weightBits('int4/block:32'), 4);
    assert.equal(weightBits('float'), 32);
  });
});

describe('words', () => {
  it('evidence in words with units; formats explained', () => {
    assert.equal(evidenceText('localSqnrDb', 47), 'layer output SQNR (only this layer quantized, float inputs): 47.0 dB');
    assert.match(evidenceText('channelRangeSpread', 12.5), /12\.5×$/);
    assert.equal(formatLegend({ id: 'w4-b32', weights: 'int4/block:32', activations: 'float' }), 'w4-b32: weights 4-bit integers, one scale per block of 32; activations float (not quantized)');
    assert.equal(formatLegend({ id: 'w8a8', weights: 'int8/per-channel', activations: 'uint8' }), 'w8a8: weights 8-bit integers, one scale per output channel; activations 8-bit unsigned integers');
  });
  it('nice axis ticks', () => {
    assert.deepEqual(niceTicks(12, 29, 4), [15, 20, 25]);
    assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  });
});

describe('recipeForKeep with repairs', () => {
  it('writes the chosen point\'s repaired layers with their best algorithm and drops repairs no longer chosen', async () => {
    const { recipeForKeep } = await import('../../webview/report-model');
    const r = {
      model: { file: 'm.onnx' }, formats: [],
      layers: [{ name: 'a', repair: { weights: 'int4/per-channel', rtnSqnrDb: 20, algorithms: { gptq: 25 }, best: 'gptq' } }, { name: 'b' }, { name: 'c' }],
      recommendation: { ...rec, keep: ['c'], repaired: ['b'], recipe: { version: 1, model: 'm.onnx', defaults: { weights: 'int4/per-channel' }, layers: { c: { weights: 'int8/per-channel' }, b: { algorithm: 'adaround' } } } },
    } as unknown as AnalysisReport;
    const recipe = recipeForKeep(r, ['c'], ['a']);
    assert.deepEqual(recipe.layers, { a: { algorithm: 'gptq' }, c: { weights: 'int8/per-channel', activations: 'float' } });
    assert.deepEqual(recipeForKeep(r, ['c']).layers, { b: { algorithm: 'adaround' }, c: { weights: 'int8/per-channel', activations: 'float' } });
  });
});
