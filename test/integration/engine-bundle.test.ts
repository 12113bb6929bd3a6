// The built engine (dist/engine.js from esbuild.mjs) runs standalone over --stdio.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { startEngine, EngineClient } from '../../src/engine/client-for-tests';
import { InspectRequest } from '../../src/shared/protocol';
import { CLS_MODEL } from './engine-helpers';

describe('bundled engine over --stdio', () => {
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
});
