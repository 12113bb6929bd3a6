// The quantlens command (bin/quantlens.js) restarts itself once with glibc's malloc settings (src/shared/malloc-env.ts): the restarted process gets
// them, exit codes and output come back, SIGTERM is passed on, and a parent killed outright takes the child with it.
import { test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import * as fs from 'fs';
import * as path from 'path';
import { HUGE_PAGES_TUNABLE, MALLOC_TUNABLES, mallocSettled, withMallocTuning } from '../../src/shared/malloc-env';
import { saveModelFile } from '../../src/core/onnx/model-file';
import { mnistCnn } from '../../src/core/train/examples';
import { ensureBuilt } from '../fixtures/cli-spawn';

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'quantlens.js');
const env = () => { const e: Record<string, string | undefined> = { ...process.env, NODE_OPTIONS: '' }; delete e.GLIBC_TUNABLES; delete e.QUANTLENS_MALLOC; return e; };
// a zombie (dead, not yet reaped by whoever adopted it) counts as gone
const alive = (pid: number) => { try { return !/^\S+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return false; } };
const childOf = (pid: number) => { const r = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }); return r.stdout.split('\n').filter(Boolean).map(Number); };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('withMallocTuning: added on Linux, kept when the user set it, left out on other systems or when opted out', () => {
  assert.equal(withMallocTuning({}, 'linux').GLIBC_TUNABLES, MALLOC_TUNABLES);
  assert.equal(withMallocTuning({ GLIBC_TUNABLES: 'glibc.pthread.rseq=0' }, 'linux').GLIBC_TUNABLES, `glibc.pthread.rseq=0:${MALLOC_TUNABLES}`);
  assert.equal(withMallocTuning({ GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=1' }, 'linux').GLIBC_TUNABLES, 'glibc.malloc.trim_threshold=1');
  assert.equal(withMallocTuning({}, 'darwin').GLIBC_TUNABLES, undefined);
  assert.equal(withMallocTuning({ QUANTLENS_MALLOC: 'system' }, 'linux').GLIBC_TUNABLES, undefined);
  assert.ok(mallocSettled(withMallocTuning({}, 'linux'), 'linux'), 'the restarted process does not restart again');
  // the qat command's huge pages: added, unless the user chose
  assert.equal(withMallocTuning({}, 'linux', { hugePages: true }).GLIBC_TUNABLES, `${MALLOC_TUNABLES}:${HUGE_PAGES_TUNABLE}`);
  assert.equal(withMallocTuning({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }, 'linux', { hugePages: true }).GLIBC_TUNABLES, `glibc.malloc.hugetlb=0:${MALLOC_TUNABLES}`);
  assert.equal(withMallocTuning({}, 'darwin', { hugePages: true }).GLIBC_TUNABLES, undefined);
});

test('the quantlens command restarts with the settings and passes exit codes, output, SIGTERM and its own death on', { skip: process.platform !== 'linux', timeout: 120_000 }, async () => {
  ensureBuilt();
  const missing = spawnSync(process.execPath, [BIN, 'inspect', '/nonexistent/m.onnx'], { cwd: ROOT, env: env(), encoding: 'utf8' });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /m\.onnx: the file does not exist/);

  const dir = tempDir('ql-restart-');
  try {
    const model = path.join(dir, 'cnn.onnx');
    saveModelFile(model, mnistCnn(3, 16, 32));
    const long = () => spawn(process.execPath, [BIN, 'analyze', model, '--data', 'mnist', '--samples', '2000', '--measure', 'all', '--all-but-one', '--threads', '1', '--no-resume', '-o', path.join(dir, 'r.json')], { cwd: ROOT, env: env(), stdio: 'ignore' });
    const started = async (p: ChildProcess) => {
      for (let i = 0; i < 400; i++) { const c = childOf(p.pid!); if (c.length) return c[0]; await sleep(25); }
      throw new Error('the CLI did not restart');
    };
    // SIGTERM to the parent reaches the child; the parent exits with the child's signal as 128 + 15
    const a = long();
    const aExit = new Promise<number | null>((r) => a.on('exit', (code) => r(code)));
    const ac = await started(a);
    const acEnv = fs.readFileSync(`/proc/${ac}/environ`, 'latin1');
    assert.match(acEnv, /glibc\.malloc\.mmap_threshold=33554432/);
    assert.doesNotMatch(acEnv, /glibc\.malloc\.hugetlb/, 'analyze runs without huge pages');
    await sleep(500);
    a.kill('SIGTERM');
    assert.equal(await aExit, 143);
    assert.equal(alive(ac), false);
    // the qat command restarts with huge pages too
    const q = spawn(process.execPath, [BIN, 'qat', model, '--data', 'mnist', '--samples', '2000', '--steps', '100000', '-o', path.join(dir, 'q.onnx')], { cwd: ROOT, env: env(), stdio: 'ignore' });
    const qExit = new Promise<void>((r) => q.on('exit', () => r()));
    const qc = await started(q);
    // (glibc rewrites the variable in place as it reads it: its separators show as NULs in /proc/<pid>/environ)
    assert.match(fs.readFileSync(`/proc/${qc}/environ`, 'latin1'), /glibc\.malloc\.mmap_threshold=33554432[:\0]glibc\.malloc\.trim_threshold=268435456[:\0]glibc\.malloc\.hugetlb=1/);
    q.kill('SIGTERM');
    await qExit;
    // SIGKILL to the parent: the child ends by itself
    const b = long();
    const bExit = new Promise<void>((r) => b.on('exit', () => r()));
    const bc = await started(b);
    b.kill('SIGKILL');
    await bExit;
    let gone = false;
    for (let i = 0; i < 100 && !gone; i++) { await sleep(50); gone = !alive(bc); }
    assert.ok(gone, 'the restarted CLI ended after its parent was killed');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
