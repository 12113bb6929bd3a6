// Kill and resume: a CLI analysis killed mid-run leaves a usable partial report, and running it again resumes from
// the saved state and gives the same numbers as an uninterrupted run.
import { test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'fs';
import * as path from 'path';
import { saveModelFile } from '../../src/core/onnx/model-file';
import { mnistCnn } from '../../src/core/train/examples';
import { AnalysisReport } from '../../src/shared/report';

const ROOT = path.resolve(__dirname, '..', '..');
const MAIN = path.join(ROOT, 'src', 'cli', 'main.ts');
const cli = (args: string[], cache: string) => ({ cmd: process.execPath, args: ['--import', 'tsx', MAIN, ...args], env: { ...process.env, XDG_CACHE_HOME: cache, NODE_OPTIONS: '' } });

/** What must not change between runs (no timings, no dates). */
const numbers = (r: AnalysisReport) => ({ layers: r.layers.map((l) => ({ name: l.name, formats: l.formats, rank: l.rank })), allQuantized: r.allQuantized, keep: r.recommendation?.keep, rec: r.recommendation?.metrics });

test('a killed analysis leaves a partial report and resumes to the same result', { timeout: 120_000 }, async () => {
  const dir = tempDir('ql-resume-');
  const model = path.join(dir, 'cnn.onnx');
  saveModelFile(model, mnistCnn(3, 16, 32));
  const common = ['analyze', model, '--data', 'mnist', '--samples', '256', '--measure', 'all', '--all-but-one', '--target', 'sqnr:30', '--base', 'w4a8', '--threads', '1'];
  const cache = path.join(dir, 'cache');
  const out = path.join(dir, 'r.json');

  // Run, and kill it (SIGKILL: nothing can be cleaned up) once some layers are saved in the state.
  const a = cli([...common, '-o', out], cache);
  const child = spawn(a.cmd, a.args, { cwd: ROOT, env: a.env, stdio: 'ignore' });
  const stateDir = path.join(cache, 'quantlens', 'analysis');
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  let killed = false;
  for (let i = 0; i < 2400 && child.exitCode === null; i++) {
    await new Promise((r) => setTimeout(r, 25));
    const f = fs.existsSync(stateDir) ? fs.readdirSync(stateDir).filter((x) => x.endsWith('.json')) : [];
    if (!f.length) continue;
    try {
      const s = JSON.parse(fs.readFileSync(path.join(stateDir, f[0]), 'utf8'));
      if (Object.keys(s.isolated).length >= 1) { child.kill('SIGKILL'); killed = true; break; }
    } catch { /* being replaced */ }
  }
  await exited;
  assert.ok(killed, 'the run finished before it could be killed');
  const partial = JSON.parse(fs.readFileSync(out, 'utf8')) as AnalysisReport;
  assert.ok(partial.partial, 'the report written so far says it is partial');
  assert.ok(partial.layers.some((l) => l.measured && Object.values(l.formats).some((f) => f.isolated)));

  // Resume.
  const r = spawnSync(a.cmd, a.args, { cwd: ROOT, env: a.env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const resumed = JSON.parse(fs.readFileSync(out, 'utf8')) as AnalysisReport;
  assert.equal(resumed.method?.resumed, true);
  assert.equal(resumed.partial, undefined);
  assert.deepEqual(fs.readdirSync(stateDir).filter((x) => x.endsWith('.json')), [], 'the state is removed when the analysis finishes');

  // An uninterrupted run (no state) gives the same numbers.
  const fresh = path.join(dir, 'fresh.json');
  const b = cli([...common, '-o', fresh, '--no-resume'], path.join(dir, 'cache2'));
  const f = spawnSync(b.cmd, b.args, { cwd: ROOT, env: b.env, encoding: 'utf8' });
  assert.equal(f.status, 0, f.stderr);
  const full = JSON.parse(fs.readFileSync(fresh, 'utf8')) as AnalysisReport;
  assert.equal(full.method?.resumed, undefined);
  assert.deepEqual(numbers(resumed), numbers(full));
});
