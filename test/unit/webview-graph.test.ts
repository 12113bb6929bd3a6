// The graph view's model: scopes collapse a 1,033-node model to a readable drawing, dagre lays it out, search and
// the metric colouring work; the engine's graph of a built model has one node per operator and shapes on edges.
import assert from 'node:assert/strict';
import { tempDir } from '../fixtures/temp-dir';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { Graph } from '../../src/core/onnx/graph';
import { loadModelFile } from '../../src/core/onnx/model-file';
import { modelGraph } from '../../src/engine/requests/graph';
import type { LayerReport } from '../../src/shared/report';
import { layerClass, worstClass } from '../../webview/graph-metrics';
import { edgeLabel, initialExpansion, ScopeIndex, scopeSegments, searchNodes, visibleGraph } from '../../webview/graph-model';
import { layoutGraph } from '../../webview/graph-layout';
import { writeScopedModel } from '../e2e/scoped-model';

const dir = tempDir('ql-graph-');
const file = path.join(dir, 'scoped.onnx');
const built = writeScopedModel(file);
const g = modelGraph(new Graph(loadModelFile(file), file), file);

describe('modelGraph (quant/graph)', () => {
  it('has every operator, the graph input and output, and data edges only', () => {
    assert.equal(g.nodes.filter((n) => n.role === 'op').length, built.nodes);
    assert.deepEqual(g.nodes.filter((n) => n.role === 'input').map((n) => n.name), ['x']);
    assert.deepEqual(g.nodes.filter((n) => n.role === 'output').map((n) => n.name), ['logits']);
    // MatMul of block 0 takes x (an edge) and its weight (an initializer: no edge)
    const mm = g.nodes.findIndex((n) => n.name === '/blocks/blocks.0/fc/MatMul');
    assert.deepEqual(g.edges.filter((e) => e.to === mm).map((e) => e.tensor), ['x']);
    assert.deepEqual(g.edges.find((e) => e.to === mm)?.shape, ['N', 32]);
    assert.equal(g.nodes[mm].index, 0);
  });
});

describe('graph view model', () => {
  const index = new ScopeIndex(g);
  it('reads name scopes', () => {
    assert.deepEqual(scopeSegments('/features/features.7/conv/Conv'), ['features', 'features.7', 'conv']);
    assert.deepEqual(scopeSegments('Conv_12'), []);
  });
  it('collapses a 1,033-node model to about a screen of items, and lays it out', () => {
    const ex = initialExpansion(index);
    const v = visibleGraph(index, ex);
    assert.ok(v.items.length > 5 && v.items.length <= 60, `${v.items.length} items`);
    assert.equal(v.items.reduce((s, i) => s + i.members.length, 0), index.visible.length, 'every node is in one item');
    const lay = layoutGraph(v.items, v.edges, (i) => [i.label, `${i.members.length}`]);
    assert.equal(lay.items.size, v.items.length);
    for (const e of lay.edges) assert.ok(e.points.length >= 2);
    // items are layered top to bottom along the data flow
    const first = v.itemOfNode.get(g.nodes.findIndex((n) => n.name === 'x'))!;
    const last = v.itemOfNode.get(g.nodes.findIndex((n) => n.name === 'logits'))!;
    assert.ok(lay.items.get(first)!.y < lay.items.get(last)!.y);
  });
  it('opening a scope shows its children; search finds nodes', () => {
    const v0 = visibleGraph(index, new Set());
    assert.ok(v0.items.some((i) => i.id === 'g:/blocks'));
    const v1 = visibleGraph(index, new Set(['/blocks']));
    assert.ok(v1.items.some((i) => i.id === 'g:/blocks/blocks.3'));
    const hits = searchNodes(index, 'blocks.1/fc/matmul');
    assert.deepEqual(hits.map((i) => g.nodes[i].name), ['/blocks/blocks.1/fc/MatMul']);
    assert.deepEqual(index.scopesOf(hits[0]), ['/blocks', '/blocks/blocks.1', '/blocks/blocks.1/fc']);
    assert.equal(edgeLabel({ from: 'a', to: 'b', tensor: 't', shape: [1, 32], count: 2 }), '1×32 +1');
  });
  it('colours layers by metric; a group takes its worst member', () => {
    const l = { name: 'a', formats: { 'w8-pc': { isolated: { sqnrDb: 12, mse: 0, cosine: 1 } } }, diagnoses: [] } as unknown as LayerReport;
    assert.equal(layerClass('sqnr:w8-pc', l, { kept: new Set() }), 'high');
    assert.equal(layerClass('precision', l, { kept: new Set(['a']) }), 'kept');
    assert.equal(layerClass('diagnosis', l, { kept: new Set() }), 'low');
    assert.equal(layerClass('sqnr:w8-pc', undefined, { kept: new Set() }), 'none');
    assert.equal(worstClass(['low', 'none', 'medium']), 'medium');
  });
});

describe('QAT epoch text', () => {
  it('says when every step is a whole pass instead of "epoch 200" at step 200', async () => {
    const { epochText } = await import('../../webview/qat-model');
    assert.equal(epochText(200, 200), 'each step is a full pass over the data (it fits one batch)');
    assert.equal(epochText(2.5, 40), 'epoch 2.50');
  });
});
