// The model view's layer table view model: only a window of a 5000-layer model is formatted and rendered.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LayerRow } from '../../src/shared/protocol';
import { MODEL_COLUMNS, MODEL_ROW_HEIGHT, modelLayerCells, modelTableView } from '../../webview/model-layer-rows';

const layers: LayerRow[] = Array.from({ length: 5000 }, (_, i) => ({
  name: `conv_${i}`, nodeIndex: 3 * i + 1, opType: i % 3 ? 'Conv' : 'MatMul', kind: i % 3 ? 'conv' : 'matmul', params: 1000 + i, macs: i % 7 ? 50_000 * i : undefined,
  weightShape: [16, 8, 3, 3], channelRangeSpread: i % 2 ? 2.5 : undefined,
}));

describe('modelTableView', () => {
  it('renders only the visible window of a 5000-layer model, with spacers for the rest', () => {
    const height = 520;
    const v = modelTableView(layers, 0, height);
    assert.equal(v.total, 5000);
    assert.ok(v.rows.length > 0 && v.rows.length < 60, `rendered ${v.rows.length} rows`);
    assert.equal(v.rows[0].index, 0);
    assert.equal(v.top, 0);
    assert.equal(v.top + v.rows.length * MODEL_ROW_HEIGHT + v.bottom, 5000 * MODEL_ROW_HEIGHT, 'spacers keep the full scroll height');
  });
  it('scrolled to the middle and the end, the window follows and covers the viewport', () => {
    const height = 520;
    const mid = modelTableView(layers, 2500 * MODEL_ROW_HEIGHT, height);
    const first = mid.rows[0].index;
    const last = mid.rows[mid.rows.length - 1].index;
    assert.ok(first <= 2500 && last >= 2500 + height / MODEL_ROW_HEIGHT - 1, `window ${first}..${last}`);
    assert.ok(mid.rows.length < 60);
    assert.deepEqual(mid.rows.map((r) => r.name), layers.slice(first, last + 1).map((l) => l.name));
    const end = modelTableView(layers, 5000 * MODEL_ROW_HEIGHT, height);
    assert.equal(end.rows[end.rows.length - 1].index, 4999);
    assert.equal(end.bottom, 0);
  });
  it('marks the selected layer and handles an empty model', () => {
    const v = modelTableView(layers, 0, 260, 'conv_3');
    assert.deepEqual(v.rows.filter((r) => r.selected).map((r) => r.name), ['conv_3']);
    assert.deepEqual(modelTableView([], 0, 260), { total: 0, top: 0, bottom: 0, rows: [] });
  });
});

describe('modelLayerCells', () => {
  it('formats one cell per column, with dashes for unknowns', () => {
    const c = modelLayerCells(layers[2], 2);
    assert.equal(c.length, MODEL_COLUMNS.length);
    assert.equal(c[0], '7', 'the graph node index, the number every view shows');
    assert.equal(c[1], 'conv_2');
    assert.equal(c[2], 'Conv');
    assert.equal(c[7], '–');
    assert.equal(modelLayerCells(layers[1], 1)[7], '2.5×');
    assert.equal(modelLayerCells(layers[0], 0)[5], '–', 'unknown MACs');
    assert.equal(c[5], '100.0k');
    assert.equal(c[6], '[16, 8, 3, 3]');
  });
});

describe('queryModelLayers', () => {
  it('filters on name/op/kind and sorts by a column, ties in graph order', async () => {
    const { queryModelLayers } = await import('../../webview/model-layer-rows');
    const mm = queryModelLayers(layers, { column: 0, descending: false, filter: 'matmul' });
    assert.equal(mm.length, 1667);
    assert.ok(mm.every((l) => l.opType === 'MatMul'));
    const byParams = queryModelLayers(layers.slice(0, 10), { column: 4, descending: true, filter: '' });
    assert.deepEqual(byParams.map((l) => l.params), [1009, 1008, 1007, 1006, 1005, 1004, 1003, 1002, 1001, 1000]);
    const byMacs = queryModelLayers(layers.slice(0, 8), { column: 5, descending: false, filter: '' });
    assert.equal(byMacs[byMacs.length - 1].macs, undefined, 'unknown MACs last');
  });
});
