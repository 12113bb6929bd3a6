// `quantlens analyze` end to end: report JSON, HTML and recipe written; the recipe is accepted by the exporter; bad flags.
import { test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { runCli } from '../../src/cli/main';
import { readRecipeFile } from '../../src/cli/model-input';
import { Graph } from '../../src/core/onnx/graph';
import { buildInventory } from '../../src/core/onnx/inventory';
import { saveModelFile } from '../../src/core/onnx/model-file';
import { buildPlan } from '../../src/core/quant/plan';
import { AnalysisReport } from '../../src/shared/report';
import { captureIO } from '../fixtures/tiny-models';
import { wideChannelNet } from './analysis-models';

test('analyze writes the report, the HTML and a recipe the exporter accepts', async () => {
  const dir = tempDir('ql-cli-a-');
  const model = path.join(dir, 'wide.onnx');
  saveModelFile(model, wideChannelNet());
  const files = { json: path.join(dir, 'r.json'), html: path.join(dir, 'out', 'r.html'), recipe: path.join(dir, 'wide.qrecipe.json') };
  const io = captureIO();
  const code = await runCli(['analyze', model, '--synthetic', '--samples', '16', '--formats', 'w8-pt,w8-pc,a8', '--base', 'w8-pt', '--higher', 'w8-pc', '--target', 'sqnr:45', '-o', files.json, '--html', files.html, '--recipe', files.recipe], io);
  assert.equal(code, 0, io.stderr());
  const report = JSON.parse(fs.readFileSync(files.json, 'utf8')) as AnalysisReport;
  assert.equal(report.layers.length, 4);
  assert.match(io.stdout(), /Most sensitive layers/);
  assert.match(io.stdout(), /conv2\s+conv\s/);
  assert.match(io.stderr(), /Analyzing/);
  const html = fs.readFileSync(files.html, 'utf8');
  for (const l of report.layers) assert.ok(html.includes(l.name));
  const recipe = readRecipeFile(files.recipe);
  assert.equal(recipe.model, 'wide.onnx');
  assert.deepEqual(Object.keys(recipe.layers).sort(), report.recommendation!.keep.slice().sort());
  const plan = buildPlan(buildInventory(new Graph(wideChannelNet())), recipe, files.recipe);
  assert.equal(plan.length, 4);
});

test('analyze refuses a bad target (usage) and a missing data folder (bad input)', async () => {
  const dir = tempDir('ql-cli-a-');
  const model = path.join(dir, 'wide.onnx');
  saveModelFile(model, wideChannelNet());
  let io = captureIO();
  assert.equal(await runCli(['analyze', model, '--target', 'speed:9'], io), 2);
  assert.match(io.stderr(), /unknown target/);
  io = captureIO();
  assert.equal(await runCli(['analyze', model, '--data', path.join(dir, 'nope'), '-o', path.join(dir, 'r.json')], io), 1);
  assert.match(io.stderr(), /does not exist/);
  assert.ok(!fs.existsSync(path.join(dir, 'r.json')));
});
