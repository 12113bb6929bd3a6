// Virtualised rows and keyboard navigation of the layer table.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { navigate, scrollToRow, visibleWindow } from '../../webview/virtual-rows';

describe('visibleWindow', () => {
  it('renders only the visible rows plus overscan, with spacers for the rest', () => {
    const w = visibleWindow(2600, 520, 26, 10000, 8);
    assert.equal(w.start, 92);
    assert.equal(w.end, 100 + 21 + 8);
    assert.equal(w.top, 92 * 26);
    assert.equal(w.bottom, (10000 - w.end) * 26);
    assert.ok(w.end - w.start < 50, 'a handful of rows out of 10000');
  });
  it('clamps at both ends and handles empty lists', () => {
    assert.deepEqual(visibleWindow(0, 260, 26, 5), { start: 0, end: 5, top: 0, bottom: 0 });
    assert.deepEqual(visibleWindow(100, 260, 26, 0), { start: 0, end: 0, top: 0, bottom: 0 });
    const end = visibleWindow(1e9, 260, 26, 100);
    assert.equal(end.end, 100);
    assert.ok(end.start < 100);
  });
});

describe('navigate', () => {
  it('moves with arrows, pages, Home and End, clamped', () => {
    assert.equal(navigate(-1, 'ArrowDown', 10, 5), 0);
    assert.equal(navigate(3, 'ArrowDown', 10, 5), 4);
    assert.equal(navigate(0, 'ArrowUp', 10, 5), 0);
    assert.equal(navigate(3, 'PageDown', 10, 5), 8);
    assert.equal(navigate(8, 'PageDown', 10, 5), 9);
    assert.equal(navigate(8, 'PageUp', 10, 5), 3);
    assert.equal(navigate(5, 'Home', 10, 5), 0);
    assert.equal(navigate(5, 'End', 10, 5), 9);
    assert.equal(navigate(5, 'a', 10, 5), undefined);
    assert.equal(navigate(0, 'ArrowDown', 0, 5), undefined);
  });
});

describe('scrollToRow', () => {
  it('scrolls only when the row is outside the viewport', () => {
    assert.equal(scrollToRow(5, 0, 260, 26), 0);
    assert.equal(scrollToRow(20, 0, 260, 26), 21 * 26 - 260);
    assert.equal(scrollToRow(2, 200, 260, 26), 52);
  });
});
