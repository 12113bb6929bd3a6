import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createProgress } from '../../src/cli/progress';
import { formatBytes, formatCount, formatTable } from '../../src/cli/context';

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  const stream = new Writable({ write(c, _e, cb) { chunks.push(String(c)); cb(); } }) as Writable & { isTTY?: boolean; columns?: number };
  stream.isTTY = isTTY;
  stream.columns = 100;
  return { stream, chunks };
}

test('TTY progress redraws one line (carriage return, no newline until finish), throttled', () => {
  const { stream, chunks } = sink(true);
  let t = 0;
  const p = createProgress('Calibrating', 10, stream, { now: () => t });
  for (let i = 1; i <= 10; i++) { t += 30; p.update(i, `layer ${i}`); }
  p.finish();
  const text = chunks.join('');
  assert.equal(text.split('\n').length, 2, 'exactly one newline, at the end');
  assert.ok(text.endsWith('\n'));
  const draws = chunks.filter((c) => c.startsWith('\r'));
  assert.ok(draws.length >= 3 && draws.length < 10, `throttled redraws: ${draws.length}`);
  assert.match(draws[draws.length - 1], /10\/10/);
  assert.match(text, /\[#+\]/);
});

test('non-TTY progress prints plain lines only occasionally, always the first and the last', () => {
  const { stream, chunks } = sink(false);
  let t = 0;
  const p = createProgress('Analyzing', 100, stream, { now: () => t, plainIntervalMs: 1000 });
  for (let i = 1; i <= 100; i++) { t += 50; p.update(i); }
  p.finish('done');
  assert.ok(chunks.every((c) => !c.includes('\r')));
  const lines = chunks.join('').trim().split('\n');
  assert.match(lines[0], /^Analyzing: 1\/100 \(1%\)/);
  assert.ok(lines.some((l) => /100\/100 \(100%\)/.test(l)));
  assert.equal(lines[lines.length - 1], 'Analyzing: done');
  assert.ok(lines.length >= 4 && lines.length <= 8, `${lines.length} lines for 5 s at one per second`);
});

test('formatting helpers', () => {
  assert.equal(formatBytes(999), '999 B');
  assert.equal(formatBytes(578966), '579 kB');
  assert.equal(formatBytes(10822323), '10.8 MB');
  assert.equal(formatCount(133700), '133.7k');
  assert.equal(formatCount(6260000), '6.26M');
  assert.equal(formatCount(undefined), '?');
  const t = formatTable(['name', 'n'], [['a', '1'], ['long', '100']], [false, true]).split('\n');
  assert.deepEqual(t, ['name    n', '----  ---', 'a       1', 'long  100']);
});
