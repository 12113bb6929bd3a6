/**
 * `npm run fuzz -- [--cases N] [--seed S] [--kinds model,recipe,data,request]`: the input fuzzer of
 * test/integration/fuzz-cases.ts for longer local runs (N cases of each kind). Prints counts per kind and outcome,
 * and every failure (internal error, hang or crash); exits 1 when there was one.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { FuzzKind, runFuzz, summarize } from '../test/integration/fuzz-cases';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const cases = Number(arg('cases') ?? 100);
  const seed = Number(arg('seed') ?? Date.now() % 1e9);
  if (!Number.isInteger(cases) || cases < 0 || !Number.isInteger(seed)) throw new Error('usage: npm run fuzz -- [--cases N] [--seed S] [--kinds model,recipe,data,request]');
  const kinds = (arg('kinds') ?? 'model,recipe,data,request').split(',') as FuzzKind[];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ql-fuzz-'));
  const count = (k: FuzzKind) => (kinds.includes(k) ? cases : 0);
  console.log(`fuzz: seed ${seed}, ${cases} cases of ${kinds.join(', ')} (files in ${dir})`);
  const t0 = Date.now();
  const results = await runFuzz({ seed, dir, cases: { model: count('model'), recipe: count('recipe'), data: count('data'), request: count('request') }, log: (l) => console.log(l) });
  const failed = results.filter((r) => !['ok', 'user-error', 'cancelled'].includes(r.outcome));
  console.log(JSON.stringify(summarize(results), null, 1));
  console.log(`${results.length} cases in ${((Date.now() - t0) / 1000).toFixed(0)} s, ${failed.length} failures (seed ${seed})`);
  fs.rmSync(dir, { recursive: true, force: true });
  process.exitCode = failed.length ? 1 : 0;
}

void main();
