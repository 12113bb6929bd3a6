// Geometry of the SVG charts and the QAT curve columns.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { channelBars, clipLines, histogramBars, linear, median, scatterPoints } from '../../webview/chart-geometry';
import { curveData } from '../../webview/qat-model';

describe('chart geometry', () => {
  it('maps linearly and survives a zero-width domain', () => {
    assert.equal(linear(0, 10, 0, 100)(2.5), 25);
    assert.equal(linear(5, 5, 0, 100)(5), 50);
  });
  it('draws histogram bars with the tallest bin at full height', () => {
    const bars = histogramBars({ min: -1, max: 1, counts: [1, 4, 2, 0] }, 100, 50, false);
    assert.equal(bars.length, 4);
    assert.equal(bars[1].h, 50);
    assert.equal(bars[1].y, 0);
    assert.equal(bars[3].h, 0);
    assert.equal(bars[2].x, 50);
  });
  it('places clipping lines on the histogram axis, clamped', () => {
    assert.deepEqual(clipLines({ min: -2, max: 2, counts: [1] }, -1, 1, 100), { lo: 25, hi: 75 });
    assert.deepEqual(clipLines({ min: -2, max: 2, counts: [1] }, -5, 5, 100), { lo: 0, hi: 100 });
  });
  it('draws per-channel bars relative to the widest channel', () => {
    const bars = channelBars([1, -4, 2], 30, 40);
    assert.deepEqual(bars.map((b) => b.h), [10, 40, 20]);
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 2, 3]), 2.5);
  });
  it('places scatter points inside the box and infinite dB at the top', () => {
    const pts = scatterPoints([{ x: 100, y: 10 }, { x: 200, y: 30 }, { x: 150, y: Infinity }], 200, 100, 10);
    assert.deepEqual(pts.map((p) => [p.x, p.y]), [[10, 90], [190, 10], [100, 10]]);
  });
});

describe('curveData', () => {
  it('sorts by step, keeps the last point of a step and turns missing values into gaps', () => {
    const d = curveData([{ step: 2, loss: 0.5 }, { step: 1, loss: 0.9, accuracy: 0.5 }, { step: 2, loss: 0.4, agreement: 0.8 }]);
    assert.deepEqual(d, { steps: [1, 2], loss: [0.9, 0.4], accuracy: [0.5, null], agreement: [null, 0.8] });
  });
});
