// Weight statistics against values worked out by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { weightStats } from '../../src/core/onnx/weight-stats';

test('per-channel absMax along axis 0 and axis 1, spread against the median channel', () => {
  // 3 channels x 2 values: channel absMax 1, 2, 10 -> median 2 -> spread 5.
  const w = Float32Array.from([1, -0.5, 2, -2, 0.5, -10]);
  const s0 = weightStats(w, [3, 2], 0);
  assert.deepEqual(s0.channelAbsMax, [1, 2, 10]);
  assert.equal(s0.channelRangeSpread, 5);
  assert.equal(s0.min, -10);
  assert.equal(s0.max, 2);
  assert.equal(s0.absMax, 10);
  const mean = (1 - 0.5 + 2 - 2 + 0.5 - 10) / 6;
  const std = Math.sqrt(w.reduce((a, v) => a + (v - mean) ** 2, 0) / 6);
  assert.ok(Math.abs(s0.std - std) < 1e-12);
  assert.ok(Math.abs(s0.outlierRatio - 10 / std) < 1e-9);
  // Same values seen as [3, 2] with channels on axis 1: columns (1, 2, 0.5) and (-0.5, -2, -10).
  const s1 = weightStats(w, [3, 2], 1);
  assert.deepEqual(s1.channelAbsMax, [2, 10]);
  assert.equal(s1.channelRangeSpread, 10 / 6); // even count: median is the mean of the middle two
});

test('channels of a 4-D conv weight and degenerate cases stay finite', () => {
  const w = new Float32Array(2 * 3 * 2 * 2);
  w[0] = 4; // channel 0
  w[12] = -1; // channel 1
  const s = weightStats(w, [2, 3, 2, 2], 0);
  assert.deepEqual(s.channelAbsMax, [4, 1]);
  const zeros = weightStats(new Float32Array(6), [3, 2], 0);
  assert.equal(zeros.channelRangeSpread, 1);
  assert.equal(zeros.outlierRatio, 1);
  // Median channel is zero: fall back to the mean channel so the spread is finite.
  const sparse = weightStats(Float32Array.from([0, 0, 0, 3]), [4], 0);
  assert.equal(sparse.channelRangeSpread, 3 / 0.75);
  assert.ok(Number.isFinite(sparse.outlierRatio));
});
