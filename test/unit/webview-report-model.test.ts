// The report panel's view model: metric choice, filter, sort, merge, scale, recipe for a set of kept layers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AnalysisReport, LayerReport } from '../../src/shared/report';
import {
  barFraction, dbOf, dbScale, filterLayers, layerDb, mergeLayers, queryLayers, recipeForKeep, sensitivity, sortLayers, toggleKeep, toggleSort,
} from '../../webview/report-model';

function layer(name: string, nodeIndex: number, opType: string, db: Record<string, number | undefined>, extra: Partial<LayerReport> = {}): LayerReport {
  const formats: LayerReport['formats'] = {};
  for (const [id, v] of Object.entries(db)) formats[id] = v === undefined ? {} : { isolated: { sqnrDb: v, mse: 0, cosine: 1 } };
  return { name, opType, kind: opType === 'Conv' ? 'conv' : 'matmul', nodeIndex, params: 10 * nodeIndex, formats, diagnoses: [], rank: 0, ...extra };
}

const layers = [
  layer('/stem/Conv', 0, 'Conv', { w8: 40, w4: 12 }),
  layer('/blocks/0/dw/Conv', 3, 'Conv', { w8: 25, w4: undefined }, { kind: 'depthwise-conv', diagnoses: [{ code: 'channel-range-spread', severity: 'warning', message: 'm', suggestion: 's', evidence: {} }] }),
  layer('/head/MatMul', 9, 'MatMul', { w8: 18, w4: 5 }),
  layer('/blocks/1/Conv', 5, 'Conv', { w8: 33, w4: 21 }),
];

describe('layerDb', () => {
  it('prefers isolated, then local, then weight SQNR', () => {
    assert.deepEqual(layerDb({ isolated: { sqnrDb: 20, mse: 0, cosine: 1 }, localSqnrDb: 30, weightSqnrDb: 40 }), { db: 20, source: 'isolated' });
    assert.deepEqual(layerDb({ localSqnrDb: 30, weightSqnrDb: 40 }), { db: 30, source: 'local' });
    assert.deepEqual(layerDb({ weightSqnrDb: 40 }), { db: 40, source: 'weight' });
    assert.equal(layerDb(undefined), undefined);
    assert.equal(layerDb({}), undefined);
  });
  it('keeps an exact (infinite) isolated result', () => {
    assert.deepEqual(layerDb({ isolated: { sqnrDb: Infinity, mse: 0, cosine: 1 } }), { db: Infinity, source: 'isolated' });
  });
});

describe('filterLayers', () => {
  it('matches name, op and kind case-insensitively, words ANDed', () => {
    assert.deepEqual(filterLayers(layers, 'conv').map((l) => l.name), ['/stem/Conv', '/blocks/0/dw/Conv', '/blocks/1/Conv']);
    assert.deepEqual(filterLayers(layers, 'BLOCKS conv').map((l) => l.name), ['/blocks/0/dw/Conv', '/blocks/1/Conv']);
    assert.deepEqual(filterLayers(layers, '  ').length, 4);
  });
  it('supports op:, kind:, keep:, diag: and negation', () => {
    assert.deepEqual(filterLayers(layers, 'op:matmul').map((l) => l.name), ['/head/MatMul']);
    assert.deepEqual(filterLayers(layers, 'kind:depthwise').map((l) => l.name), ['/blocks/0/dw/Conv']);
    assert.deepEqual(filterLayers(layers, 'keep:yes', new Set(['/head/MatMul'])).map((l) => l.name), ['/head/MatMul']);
    assert.deepEqual(filterLayers(layers, 'keep:no', new Set(['/head/MatMul'])).length, 3);
    assert.deepEqual(filterLayers(layers, 'diag:spread').map((l) => l.name), ['/blocks/0/dw/Conv']);
    assert.deepEqual(filterLayers(layers, '-blocks').map((l) => l.name), ['/stem/Conv', '/head/MatMul']);
  });
});

describe('sortLayers', () => {
  it('sorts by dB ascending (most sensitive first) with missing values last', () => {
    assert.deepEqual(sortLayers(layers, 'db:w4', false).map((l) => l.name), ['/head/MatMul', '/stem/Conv', '/blocks/1/Conv', '/blocks/0/dw/Conv']);
    assert.deepEqual(sortLayers(layers, 'db:w4', true).map((l) => l.name), ['/blocks/1/Conv', '/stem/Conv', '/head/MatMul', '/blocks/0/dw/Conv']);
  });
  it('sorts by graph order, name, params', () => {
    assert.deepEqual(sortLayers(layers, 'graph', false).map((l) => l.nodeIndex), [0, 3, 5, 9]);
    assert.deepEqual(sortLayers(layers, 'name', false).map((l) => l.name)[0], '/blocks/0/dw/Conv');
    assert.deepEqual(sortLayers(layers, 'params', true).map((l) => l.params), [90, 50, 30, 0]);
  });
  it('does not modify its input', () => {
    const copy = layers.slice();
    sortLayers(layers, 'db:w8', false);
    assert.deepEqual(layers, copy);
  });
  it('handles thousands of layers', () => {
    const many = Array.from({ length: 5000 }, (_, i) => layer(`/l${i}/Conv`, i, 'Conv', { w8: (i * 7919) % 97 }));
    const sorted = queryLayers(many, { sort: 'db:w8', descending: false, filter: 'conv' });
    assert.equal(sorted.length, 5000);
    for (let i = 1; i < sorted.length; i++) assert.ok(dbOf(sorted[i - 1], 'w8')! <= dbOf(sorted[i], 'w8')!);
  });
});

describe('toggleSort', () => {
  it('flips direction on the same column and starts ascending on a new one', () => {
    const q = toggleSort({ sort: 'graph', descending: false, filter: 'x' }, 'graph');
    assert.deepEqual(q, { sort: 'graph', descending: true, filter: 'x' });
    assert.deepEqual(toggleSort(q, 'db:w8'), { sort: 'db:w8', descending: false, filter: 'x' });
  });
});

describe('mergeLayers', () => {
  it('adds streamed layers by name in graph order, replacing duplicates', () => {
    const merged = mergeLayers([layers[2]], [layers[0], { ...layers[2], rank: 1 }]);
    assert.deepEqual(merged.map((l) => [l.name, l.rank]), [['/stem/Conv', 0], ['/head/MatMul', 1]]);
  });
});

describe('dbScale and barFraction', () => {
  it('scales to the largest finite value rounded up to 10 dB, at least 40', () => {
    const f = [{ id: 'w8', weights: 'int8', activations: 'uint8' }];
    assert.equal(dbScale(layers, f), 40);
    assert.equal(dbScale([layer('a', 0, 'Conv', { w8: 57 }), layer('b', 1, 'Conv', { w8: Infinity })], f), 60);
  });
  it('clamps to 0..1 and draws infinite as full', () => {
    assert.equal(barFraction(20, 40), 0.5);
    assert.equal(barFraction(-5, 40), 0);
    assert.equal(barFraction(80, 40), 1);
    assert.equal(barFraction(Infinity, 40), 1);
    assert.equal(barFraction(undefined, 40), 0);
  });
  it('classifies sensitivity', () => {
    assert.deepEqual([10, 25, 35, undefined].map(sensitivity), ['high', 'medium', 'low', 'unknown']);
  });
});

describe('recipeForKeep', () => {
  const base = { id: 'w4a8', weights: 'int4/per-channel', activations: 'uint8' };
  const higher = { id: 'w8a8', weights: 'int8/per-channel', activations: 'uint8' };
  const report = {
    model: { file: '/models/net.onnx' }, formats: [base, higher], primaryFormat: 'w4a8', layers,
    recommendation: {
      base, higher, keep: ['/head/MatMul'],
      recipe: { version: 1, model: 'net.onnx', defaults: { weights: 'int4/per-channel', activations: 'uint8' }, layers: { '/head/MatMul': { weights: 'int8/per-channel', activations: 'uint8' }, '/stem/Conv': 'float' } },
    },
  } as unknown as AnalysisReport;
  it('puts exactly the kept layers at the higher format and keeps other overrides', () => {
    const r = recipeForKeep(report, ['/blocks/1/Conv']);
    assert.deepEqual(r.layers, { '/stem/Conv': 'float', '/blocks/1/Conv': { weights: 'int8/per-channel', activations: 'uint8' } });
    assert.deepEqual(r.defaults, { weights: 'int4/per-channel', activations: 'uint8' });
    assert.equal(report.recommendation!.recipe.layers['/head/MatMul'] !== undefined, true, 'input untouched');
  });
  it('without a recommendation starts from the primary format', () => {
    const r = recipeForKeep({ ...report, recommendation: undefined }, ['/head/MatMul']);
    assert.equal(r.model, 'net.onnx');
    assert.deepEqual(r.defaults, { weights: 'int4/per-channel', activations: 'uint8' });
    assert.deepEqual(r.layers, { '/head/MatMul': 'float' });
  });
  it('toggleKeep adds and removes', () => {
    const a = toggleKeep(new Set(['x']), 'y');
    assert.deepEqual([...a].sort(), ['x', 'y']);
    assert.deepEqual([...toggleKeep(a, 'x')], ['y']);
  });
});
