// The input fuzzer in CI (seeded, ~1 minute): mutated models, recipes, data files and engine requests must each end
// in success or a clear user error, never an internal error, a hang or a crash, and the engine must answer afterwards.
// Longer runs: `npm run fuzz -- --cases 500 --seed 42` (test/integration/fuzz-cases.ts holds the generators).
import { test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { runFuzz, summarize } from './fuzz-cases';

test('seeded fuzz: models, recipes, data files and engine requests end in success or a clear user error', async (t) => {
  const dir = tempDir('ql-fuzz-ci-');
  try {
    const results = await runFuzz({ seed: 20261204, dir, cases: { model: 60, recipe: 60, data: 50, request: 60 }, timeoutMs: 60_000, log: (l) => t.diagnostic(l) });
    const summary = summarize(results);
    t.diagnostic(`fuzz outcomes per kind: ${JSON.stringify(summary)}`);
    const failures = results.filter((r) => !['ok', 'user-error', 'cancelled'].includes(r.outcome));
    assert.deepEqual(failures.map((f) => `${f.kind} ${f.outcome}: ${f.name}: ${f.detail ?? ''}`), []);
    for (const kind of ['model', 'recipe', 'data', 'request']) {
      assert.ok((summary[kind]?.['user-error'] ?? 0) > 0, `${kind}: some cases are refused`);
      assert.ok((summary[kind]?.ok ?? 0) > 0, `${kind}: some cases still succeed (the fuzzer does not only make garbage)`);
    }
    assert.equal(results.at(-1)?.name, 'quant/status after the run: no job left');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
