// The extension's pure parts: paths beside a model, settings, job status text, the webview page shell, layer badges.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LayerReport } from '../../src/shared/report';
import { jobDetail, jobLabel, statusText } from '../../src/extension/job-status';
import { layerBadge } from '../../src/extension/layer-badge';
import { asLayerRef, exportPathFor, isModelPath, isRecipePath, modelFromRecipeText, qatOutputPathFor, recipePathFor, reportCacheName } from '../../src/extension/paths';
import { dataSpec, readSettings } from '../../src/extension/settings';
import { contentSecurityPolicy, escapeHtml, webviewHtml } from '../../src/extension/webview-html';

describe('paths', () => {
  it('derives recipe, export and QAT paths beside the model', () => {
    assert.equal(recipePathFor('/w/net.onnx'), '/w/net.qrecipe.json');
    assert.equal(exportPathFor('/w/net.ONNX'), '/w/net.qdq.onnx');
    assert.equal(qatOutputPathFor('/w/net.onnx'), '/w/net.qat.onnx');
    assert.ok(isModelPath('/a/b.Onnx') && !isModelPath('/a/b.onnx.json'));
    assert.ok(isRecipePath('/a/net.qrecipe.json') && !isRecipePath('/a/net.json'));
  });
  it('reads the model a recipe names, relative to the recipe', () => {
    assert.equal(modelFromRecipeText('/w/r/net.qrecipe.json', '{"version":1,"model":"../m/net.onnx"}'), '/w/m/net.onnx');
    assert.equal(modelFromRecipeText('/w/net.qrecipe.json', '{"version":1}'), undefined);
    assert.equal(modelFromRecipeText('/w/net.qrecipe.json', 'not json'), undefined);
  });
  it('reads {model, layer} arguments from code lenses and trees', () => {
    assert.deepEqual(asLayerRef({ model: '/w/net.onnx', layer: '/c/Conv' }), { model: '/w/net.onnx', layer: '/c/Conv' });
    assert.deepEqual(asLayerRef({ model: 'file:///w/a%20b.onnx', layer: 'L' }), { model: '/w/a b.onnx', layer: 'L' });
    assert.deepEqual(asLayerRef({ model: { fsPath: '/w/x.onnx' }, layer: 'L' }), { model: '/w/x.onnx', layer: 'L' });
    assert.equal(asLayerRef({ model: '/w/x.onnx' }), undefined);
    assert.equal(asLayerRef('x'), undefined);
  });
  it('names report caches stably and distinctly', () => {
    assert.equal(reportCacheName('/a/net.onnx'), reportCacheName('/a/net.onnx'));
    assert.notEqual(reportCacheName('/a/net.onnx'), reportCacheName('/b/net.onnx'));
    assert.match(reportCacheName('/a/my net.onnx'), /^my_net\.onnx-[0-9a-f]+\.report\.json$/);
  });
});

describe('settings', () => {
  it('applies defaults and rejects out-of-range values', () => {
    const s = readSettings(() => undefined);
    assert.deepEqual(s, { formats: [], calibrationSamples: 64, dataFolder: '', memoryBudgetMB: 1024, threads: 0, target: { kind: 'min-sqnr-db', value: 30 }, qatSteps: 200 });
    const t = readSettings((k) => ({ threads: -3, 'data.calibrationSamples': 16, 'analysis.formats': ['int8:uint8', '', 3], 'recommendation.target': 'max-accuracy-drop', 'recommendation.targetValue': 0.02 } as Record<string, unknown>)[k]);
    assert.equal(t.threads, 0); // out of range: the default, 0 = the machine's cores
    assert.equal(t.calibrationSamples, 16);
    assert.deepEqual(t.formats, ['int8:uint8']);
    assert.deepEqual(t.target, { kind: 'max-accuracy-drop', value: 0.02 });
  });
  it('builds the data spec: synthetic, mnist or a folder resolved against the workspace', () => {
    const base = readSettings(() => undefined);
    assert.deepEqual(dataSpec(base, (p) => `/ws/${p}`), { samples: 64 });
    assert.deepEqual(dataSpec({ ...base, dataFolder: 'MNIST' }, (p) => p), { builtin: 'mnist', samples: 64 });
    assert.deepEqual(dataSpec({ ...base, dataFolder: 'data/cal' }, (p) => `/ws/${p}`), { folder: '/ws/data/cal', samples: 64 });
  });
});

describe('job status', () => {
  const job = { id: 'analyze-1', kind: 'analyze' as const, model: '/w/net.onnx', startedAt: '2026-01-01T00:00:00.000Z', message: 'layer 3/54', percentage: 41.6 };
  it('describes running jobs for the status bar', () => {
    assert.equal(statusText([]), undefined);
    assert.equal(statusText([job]), '$(sync~spin) QuantLens: Analyze net.onnx 42%');
    assert.equal(statusText([job, { ...job, id: 'qat-2', kind: 'qat' }]), '$(sync~spin) QuantLens: 2 jobs');
    assert.equal(jobLabel({ ...job, kind: 'qat' }), 'QAT net.onnx');
    assert.equal(jobDetail(job, Date.parse(job.startedAt) + 12_400), '42% · layer 3/54 · 12 s');
  });
});

describe('webview page shell', () => {
  it('has a strict CSP: nothing by default, scripts by nonce only', () => {
    const csp = contentSecurityPolicy('https://x.vscode-cdn.net', 'abc');
    assert.match(csp, /^default-src 'none'/);
    assert.match(csp, /script-src 'nonce-abc'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:\/\/\*|connect-src/);
  });
  it('escapes the boot data and puts the nonce on the script', () => {
    const html = webviewHtml({ cspSource: 'vscode-resource:', scriptUri: 'vscode-resource:/dist/webview.js', styleUris: ['vscode-resource:/media/webview.css'], nonce: 'N1',
      boot: { kind: 'report', model: '/w/<x>"net.onnx', modelName: '<x>"net.onnx' }, title: 'Report: <x>' });
    assert.match(html, /<script nonce="N1" src="vscode-resource:\/dist\/webview.js"><\/script>/);
    assert.doesNotMatch(html, /<x>/);
    const boot = /data-boot="([^"]*)"/.exec(html)![1];
    const decoded = boot.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
    assert.deepEqual(JSON.parse(decoded), { kind: 'report', model: '/w/<x>"net.onnx', modelName: '<x>"net.onnx' });
    assert.equal(escapeHtml(`&<>"'`), '&amp;&lt;&gt;&quot;&#39;');
    assert.equal((html.match(/<script/g) ?? []).length, 1);
  });
});

describe('layer badge', () => {
  const l = (db: number | undefined): LayerReport => ({ name: 'L', opType: 'Conv', kind: 'conv', nodeIndex: 0, params: 1, formats: { w8: db === undefined ? {} : { localSqnrDb: db } }, diagnoses: [], rank: 3 });
  it('colours by sensitivity under the primary format', () => {
    assert.equal(layerBadge(l(12), 'w8').color, 'charts.red');
    assert.equal(layerBadge(l(25), 'w8').color, 'charts.yellow');
    assert.equal(layerBadge(l(45), 'w8').color, 'charts.green');
    assert.equal(layerBadge(l(45), 'w8').text, 'w8 45.0 dB · rank 3');
    assert.equal(layerBadge(l(undefined), 'w8').color, undefined);
    assert.equal(layerBadge(undefined, 'w8').text, '');
  });
});

describe('engine log levels', () => {
  it('tags step lines as trace, ONNX Runtime errors/warnings by their letter, the rest as info', async () => {
    const { engineLineLevel } = await import('../../src/extension/log-levels');
    assert.equal(engineLineLevel('quantlens-step {"job":"1"}'), 'trace');
    assert.equal(engineLineLevel('2026-12-04 [W:onnxruntime:, graph.cc:1] Removing initializer'), 'warn');
    assert.equal(engineLineLevel('2026-12-04 [E:onnxruntime:, session.cc:9] failed'), 'error');
    assert.equal(engineLineLevel('    at Object.<anonymous> (/x/engine.js:1:2)'), 'error');
    assert.equal(engineLineLevel('engine started, 1 thread'), 'info');
  });
});
