// Sequential repair's rounds run only what changed (round-runs.ts): on models with residual branches (ResNet-18) and
// with integer inputs, shape arithmetic and masks (a BERT encoder), every round's layer inputs equal those of a run of
// the whole prefix of that round's model, while later rounds' sessions hold fewer nodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../src/core/onnx/graph';
import { buildInventoryAsync } from '../../src/core/onnx/inventory';
import { decodeModelProto, DataType, encodeModelProto, ModelProto } from '../../src/core/onnx/proto';
import { tensorToProto, toFloat32 } from '../../src/core/onnx/tensor-data';
import { captureModel } from '../../src/core/data/collect-ranges';
import { syntheticDataSource } from '../../src/core/data/synthetic';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { InferenceBackend } from '../../src/core/runtime/backend';
import { cuttable, RoundRuns } from '../../src/core/quant/algorithms/round-runs';
import { upstreamRounds } from '../../src/core/quant/algorithms/sequential';
import { zooEntry } from '../fixtures/zoo';

const ort = ortBackend();

/** The backend, counting the nodes of every session it creates. */
function counting(nodes: number[]): InferenceBackend {
  return { ...ort, version: ort.version, createSession: (m, o) => { if (typeof m !== 'string') nodes.push(decodeModelProto(m).graph?.node?.length ?? 0); return ort.createSession(m, o); } };
}

/** The model with these layers' weights scaled (what a round's repairs do: new weights, same graph). */
function reweighted(model: ModelProto, graph: Graph, weights: readonly string[], factor: number): ModelProto {
  const tensors = new Set(weights);
  const g = model.graph!;
  return { ...model, graph: { ...g, initializer: (g.initializer ?? []).map((t) => (tensors.has(t.name ?? '') ? tensorToProto(t.name!, { type: DataType.FLOAT, dims: (t.dims ?? []).map(Number), data: toFloat32(graph.constantValue(t.name!)!).map((v) => v * factor) }) : t)) } };
}

/** Nodes of the prefix computing these tensors. */
function ancestors(graph: Graph, tensors: readonly string[]): number {
  const nodes = new Set<number>();
  const stack = [...tensors];
  while (stack.length) {
    const p = graph.producer.get(stack.pop()!);
    if (p && !nodes.has(p.index)) { nodes.add(p.index); stack.push(...p.inputs); }
  }
  return nodes.size;
}

async function check(name: string, pick: number): Promise<void> {
  const model = zooEntry(name).build({ scale: 'tiny', seed: 3 }).model;
  const graph = new Graph(model);
  assert.ok(cuttable(graph));
  const layers = (await buildInventoryAsync(graph, ort, { stats: false })).filter((l) => l.weight && graph.initializers.has(l.weight.tensor) && l.kind !== 'embedding');
  const byName = new Map(layers.map((l) => [l.name, l]));
  const chosen = layers.filter((_, i) => i % Math.ceil(layers.length / pick) === 1).map((l) => l.name);
  const rounds = upstreamRounds(graph, chosen);
  assert.ok(rounds.length >= 3, `${rounds.length} rounds`);
  const inputNames = new Set(graph.inputs.map((i) => i.name));
  const tensors = rounds.map((r) => [...new Set(r.map((n) => byName.get(n)!.activationInputs[0]))].filter((t) => !inputNames.has(t)));
  const data = syntheticDataSource(graph.inputs, { samples: 5, seed: 2 });
  const nodes: number[] = [];
  const runs = new RoundRuns(graph, rounds, tensors);
  let current = model;
  for (const [r, round] of rounds.entries()) {
    const run = await runs.open(r, current, counting(nodes));
    const whole = await ort.createSession(encodeModelProto(captureModel(current, tensors[r])), { optimization: 'basic' });
    try {
      let b = 0;
      for await (const batch of data.batches(2)) {
        const got = await run.run(b++, batch.feeds);
        const want = await whole.run(batch.feeds, tensors[r]);
        for (const t of tensors[r]) {
          const x = toFloat32(got[t]), y = toFloat32(want[t]);
          assert.equal(x.length, y.length);
          let worst = 0;
          for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]) / (1e-6 + Math.abs(y[i])));
          assert.ok(worst < 1e-4, `${name} round ${r} '${t}' batch ${b}: relative difference ${worst}`);
        }
      }
    } finally { await run.release(); await whole.release(); }
    if (r === 0) assert.ok(runs.bytes > 0, 'the first run keeps values for later rounds');
    // this round's repairs change its layers' weights before the next round
    current = reweighted(current, graph, round.map((n) => byName.get(n)!.weight!.tensor), 1.25);
  }
  assert.equal(runs.bytes, 0, 'values no round reads any more are let go');
  // every round after the first runs fewer nodes than its whole prefix
  const prefix = tensors.map((ts) => ancestors(graph, ts));
  for (let r = 1; r < rounds.length; r++) assert.ok(nodes[r] < prefix[r], `${name} round ${r}: ${nodes[r]} nodes, prefix ${prefix[r]}`);
}

test('round runs on a residual CNN give the whole prefix\'s values with smaller sessions', async () => {
  await check('resnet18', 6);
});

test('round runs on a BERT encoder (int64 ids, mask arithmetic) give the whole prefix\'s values', async () => {
  await check('bert', 6);
});
