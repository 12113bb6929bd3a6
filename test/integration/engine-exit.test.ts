// The engine ends when its client goes away, even in the middle of a job: an orphaned engine must not keep running.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { startEngine } from '../../src/engine/client-for-tests';
import { CLS_MODEL, tempDir } from './engine-helpers';

const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
async function waitGone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (!alive(pid)) return true; await new Promise((r) => setTimeout(r, 100)); }
  return !alive(pid);
}

test('stdin closing during an analysis ends the engine', async () => {
  const engine = await startEngine({ initializationOptions: { memoryBudgetMB: 128 } });
  const job = engine.connection.sendRequest('quant/analyze', { model: CLS_MODEL, data: { samples: 64 } }).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 1500));
  engine.child.stdin!.end();
  assert.ok(await waitGone(engine.child.pid!, 10_000), 'the engine exited after stdin closed');
  engine.connection.dispose();
  void job;
});

test('the parent dying (SIGKILL) during an analysis ends the engine', async () => {
  const dir = tempDir();
  const pidFile = path.join(dir, 'engine.pid');
  // A parent that starts the engine, sends an analysis, writes the engine's pid and waits; its pipes stay open in the
  // engine's stdin only through the parent, so this checks the parent watch and the stdin end together.
  const parentScript = `
    const { startEngine } = require(${JSON.stringify(path.resolve('src/engine/client-for-tests.ts'))});
    startEngine({ root: ${JSON.stringify(process.cwd())} }).then((e) => {
      e.connection.sendRequest('quant/analyze', { model: ${JSON.stringify(CLS_MODEL)}, data: { samples: 64 } }).catch(() => {});
      require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(e.child.pid));
      setInterval(() => {}, 1000);
    });`;
  const parent = spawn(process.execPath, ['--import', 'tsx', '-e', parentScript], { stdio: 'ignore', env: { ...process.env, NODE_OPTIONS: '' } });
  try {
    const end = Date.now() + 30_000;
    while (!fs.existsSync(pidFile) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    await new Promise((r) => setTimeout(r, 1500)); // the analysis is running
    assert.ok(alive(pid));
    parent.kill('SIGKILL');
    assert.ok(await waitGone(pid, 10_000), 'the orphaned engine exited');
  } finally {
    if (parent.exitCode === null) parent.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
