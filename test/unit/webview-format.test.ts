// Number formatting of the webviews.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatBytes, formatCount, formatDb, formatDuration, formatNumber, formatPercent, formatShape } from '../../webview/format';

describe('webview number formatting', () => {
  it('formats dB', () => {
    assert.equal(formatDb(23.456), '23.5 dB');
    assert.equal(formatDb(Infinity), '∞ dB');
    assert.equal(formatDb(undefined), '–');
    assert.equal(formatDb(NaN), '–');
  });
  it('formats bytes with binary units', () => {
    assert.equal(formatBytes(812), '812 B');
    assert.equal(formatBytes(1536), '1.50 KiB');
    assert.equal(formatBytes(522.1 * 1024), '522.1 KiB');
    assert.equal(formatBytes(3 * 1024 * 1024), '3.00 MiB');
  });
  it('formats counts', () => {
    assert.equal(formatCount(950), '950');
    assert.equal(formatCount(1410), '1.41k');
    assert.equal(formatCount(124100), '124.1k');
    assert.equal(formatCount(6_260_000), '6.26M');
    assert.equal(formatCount(undefined), '–');
  });
  it('formats percentages, durations, numbers and shapes', () => {
    assert.equal(formatPercent(0.9734), '97.3%');
    assert.equal(formatDuration(14.2), '14 s');
    assert.equal(formatDuration(185), '3 min 05 s');
    assert.equal(formatDuration(3720), '1 h 02 min');
    assert.equal(formatNumber(0.012345), '0.01235');
    assert.equal(formatNumber(1.5e-6), '1.50e-6');
    assert.equal(formatNumber(0), '0');
    assert.equal(formatShape([1, 'N', 3]), '[1, N, 3]');
  });
});
