// The engine's model cache and job slots in-process: LRU eviction under the budget, pins, items, reload on change.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { buildInventory } from '../../src/core/onnx/inventory';
import { ModelCache } from '../../src/engine/model-cache';
import { JobSlots } from '../../src/engine/jobs';
import { tempDir, writeMlp } from './engine-helpers';

describe('engine model cache', () => {
  it('evicts idle items first, then least recently used unpinned models, never a pinned one', async () => {
    const dir = tempDir();
    try {
      const a = writeMlp(path.join(dir, 'a.onnx'), 2, 64);
      const b = writeMlp(path.join(dir, 'b.onnx'), 2, 64);
      const c = writeMlp(path.join(dir, 'c.onnx'), 2, 64);
      const size = fs.statSync(a).size * 1.5;
      const cache = new ModelCache(size * 2.5, (g) => buildInventory(g));
      const ma = await cache.acquire(a);
      assert.equal(ma.model.inventory.length, 3);
      await cache.get(b);
      let disposed = 0;
      assert.equal(await cache.setItem(b, 'session', { value: 'x', bytes: size, dispose: () => { disposed++; } }), true);
      // a + b + item = 3 sizes > 2.5: b's item goes first (a is pinned).
      assert.equal(disposed, 1);
      assert.deepEqual(cache.models().sort(), [a, b].sort());
      await cache.get(c); // a (pinned), b, c = 3 sizes: b is the least recently used idle model
      assert.deepEqual(cache.models().sort(), [a, c].sort());
      ma.release();
      await cache.get(b); // now a is idle and least recently used
      assert.deepEqual(cache.models().sort(), [b, c].sort());
      assert.ok(cache.usedBytes() <= cache.budget);
      assert.equal(cache.peek(c)?.path, c);
      assert.equal(cache.peek(a), undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reloads a model whose file changed and releases items on close', async () => {
    const dir = tempDir();
    try {
      const f = writeMlp(path.join(dir, 'm.onnx'), 2, 16);
      const cache = new ModelCache(1e9, (g) => buildInventory(g));
      const first = await cache.get(f);
      assert.equal(await cache.get(f), first, 'unchanged file: the same object');
      let disposed = 0;
      await cache.setItem(f, 'k', { value: 1, bytes: 10, dispose: () => { disposed++; } });
      writeMlp(f, 4, 16);
      fs.utimesSync(f, new Date(), new Date(Date.now() + 5000));
      const second = await cache.get(f);
      assert.notEqual(second, first);
      assert.equal(second.inventory.length, 5, 'the new file has 4 hidden layers and the head');
      assert.equal(disposed, 1, 'items of the old version were released');
      await cache.setItem(f, 'k', { value: 2, bytes: 10, dispose: () => { disposed++; } });
      await cache.close(f);
      assert.equal(disposed, 2);
      assert.deepEqual(cache.models(), []);
      assert.equal(await cache.setItem(f, 'k', { value: 3, bytes: 10 }), false, 'no model, no item');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a failed load is not cached and names the file', async () => {
    const dir = tempDir();
    try {
      const bad = path.join(dir, 'bad.onnx');
      fs.writeFileSync(bad, 'not a model');
      const cache = new ModelCache(1e9, (g) => buildInventory(g));
      await assert.rejects(cache.get(bad), (e: Error) => e.message.includes(bad));
      assert.deepEqual(cache.models(), []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('engine job slots', () => {
  it('runs at most `limit` jobs, hands slots over in order, and drops a waiter that is cancelled', async () => {
    const slots = new JobSlots(1);
    const order: string[] = [];
    const r1 = await slots.acquire(new AbortController().signal);
    const c2 = new AbortController();
    const w2 = slots.acquire(c2.signal).then((r) => { order.push('2'); return r; }, () => { order.push('2 cancelled'); return undefined; });
    const w3 = slots.acquire(new AbortController().signal).then((r) => { order.push('3'); return r; });
    assert.equal(slots.full, true);
    c2.abort(new Error('cancelled'));
    await w2;
    r1();
    const r3 = await w3;
    assert.deepEqual(order, ['2 cancelled', '3']);
    r3();
    assert.equal(slots.full, false);
  });
});
