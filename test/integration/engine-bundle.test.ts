// The built engine (dist/engine.js from esbuild.mjs) runs standalone over --stdio.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { fork, spawnSync } from 'child_process';
import { createMessageConnection, IPCMessageReader, IPCMessageWriter } from 'vscode-jsonrpc/node';
import { ExitNotification, InitializedNotification, InitializeRequest, ShutdownRequest } from 'vscode-languageserver-protocol';
import { startEngine, EngineClient } from '../../src/engine/client-for-tests';
import { InspectRequest } from '../../src/shared/protocol';
import { CLS_MODEL } from './engine-helpers';

describe('bundled engine over --stdio and IPC', () => {
  const script = path.resolve('dist/engine.js');
  let engine: EngineClient;

  before(async () => {
    const build = spawnSync(process.execPath, ['esbuild.mjs'], { encoding: 'utf8' });
    assert.equal(build.status, 0, `node esbuild.mjs failed:\n${build.stderr}`);
    assert.ok(fs.existsSync(script));
    engine = await startEngine({ script, cwd: path.dirname(CLS_MODEL) });
  });
  after(async () => {
    await engine?.close();
  });

  it('announces the recipe language features and answers quant/inspect with a path relative to its cwd', async () => {
    const caps = engine.initializeResult.capabilities;
    assert.ok(caps.hoverProvider, 'hover on recipes');
    assert.ok(caps.completionProvider, 'completion in recipes');
    assert.equal(engine.initializeResult.serverInfo?.name, 'quantlens-engine');
    const info = await engine.connection.sendRequest(InspectRequest, { model: path.basename(CLS_MODEL) });
    assert.equal(info.model, CLS_MODEL);
    assert.equal(info.layers.length, 54);
  });

  it('exits cleanly on shutdown + exit', async () => {
    await engine.close();
    assert.equal(await engine.exited, 0);
  });

  it('runs over node IPC, as vscode-languageclient starts it (TransportKind.ipc)', async () => {
    const child = fork(script, ['--node-ipc'], { silent: true, execArgv: [] });
    const conn = createMessageConnection(new IPCMessageReader(child), new IPCMessageWriter(child));
    conn.listen();
    try {
      const init = await conn.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: null, capabilities: {}, initializationOptions: { threads: 1 } });
      assert.ok(init.capabilities.hoverProvider);
      await conn.sendNotification(InitializedNotification.type, {});
      const info = await conn.sendRequest(InspectRequest, { model: CLS_MODEL });
      assert.equal(info.layers.length, 54);
      await conn.sendRequest(ShutdownRequest.type);
      const exited = new Promise((r) => child.on('exit', r));
      await conn.sendNotification(ExitNotification.type);
      assert.equal(await exited, 0);
    } finally {
      conn.dispose();
      if (child.exitCode === null) child.kill();
    }
  });
});
