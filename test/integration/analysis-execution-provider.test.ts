// --execution-provider passes through to ONNX Runtime; one the installed onnxruntime-node lacks is refused by name,
// with the list of those it has, before any output is written.
import { test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { runCli } from '../../src/cli/main';
import { saveModelFile } from '../../src/core/onnx/model-file';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { captureIO } from '../fixtures/tiny-models';
import { wideChannelNet } from './analysis-models';

test('an unknown execution provider is refused with the available ones; cpu runs', async () => {
  const dir = tempDir('ql-ep-');
  const model = path.join(dir, 'wide.onnx');
  saveModelFile(model, wideChannelNet());
  const names = ortBackend().executionProviders!().map((p) => p.name);
  assert.ok(names.includes('cpu'), names.join(','));
  let io = captureIO();
  const out = path.join(dir, 'r.json');
  assert.equal(await runCli(['analyze', model, '--synthetic', '--samples', '8', '--formats', 'w8-pt', '--execution-provider', 'nosuchep', '-o', out, '--no-resume'], io), 1);
  assert.match(io.stderr(), /execution provider 'nosuchep' is not available in the installed onnxruntime-node; available: cpu/);
  assert.ok(!fs.existsSync(out));
  io = captureIO();
  assert.equal(await runCli(['analyze', model, '--synthetic', '--samples', '8', '--formats', 'w8-pt', '--execution-provider', 'cpu', '-o', out, '--no-resume'], io), 0, io.stderr());
  assert.match(io.stdout(), /Measured exactly: \d+ of 4 layers/);
});
