/** analyzeModel: the whole per-layer sensitivity analysis of a model, assembled into an AnalysisReport. */
import * as path from 'path';
import { QuantLensError } from '../errors';
import { Graph } from '../onnx/graph';
import { QuantLayer } from '../onnx/layer';
import { loadModelFile } from '../onnx/model-file';
import { encodeModelProto, ModelProto } from '../onnx/proto';
import { buildInventoryAsync } from '../onnx/inventory';
import { foldConstants } from '../onnx/constant-fold';
import { Tensor, toFloat32 } from '../onnx/tensor-data';
import { InferenceBackend } from '../runtime/backend';
import { ortBackend } from '../runtime/ort-backend';
import { DataSource } from '../data/source';
import { DataSpec, OpenDataOptions, openDataSource } from '../data/open';
import { AnalysisReport, FormatCandidate, LayerReport, REPORT_SCHEMA_VERSION, Target } from '../../shared/report';
import { DEFAULT_LAYER_SPEC, effectiveLayerSpec, parseCalibration, Recipe } from '../../shared/recipe';
import { mustParseFormat } from '../../shared/formats';
import { ActivationCache, checkFeeds, throwIfAborted } from './activation-cache';
import { DEFAULT_CANDIDATES, parseCandidate } from './candidates';
import { AccuracyAccumulator, detectOutputLayout, isFloatTensor } from './metrics';
import { derivedConstantsNeeded, neededTensors } from './subgraph';
import { analyzeLayerIsolated, ConfigurationRunner, SensitivityContext, SensitivityTimings, uniformFormats } from './sensitivity';
import { activationStats, weightHistogram } from './layer-stats';
import { diagnoseLayer } from './diagnosis';
import { recommend } from './recommend';
import { buildPlan } from '../quant/plan';
import { fidelityMessages } from '../quant/ort-fidelity';

/** Progress of an analysis: `done` of `total` steps, with what is being done. */
export interface AnalysisProgress {
  done: number;
  total: number;
  message: string;
}

/** Options of analyzeModel. */
export interface AnalyzeOptions {
  /** The model file. */
  modelPath: string;
  /** The decoded model, when the caller already has it (else read from modelPath). */
  model?: ModelProto;
  /** A recipe: its defaults choose the calibration and the base format of the recommendation. */
  recipe?: Recipe;
  /** The data: a DataSource, or a spec openDataSource understands (path, 'synthetic', 'mnist'); default synthetic. */
  data?: DataSource | DataSpec;
  /** Options for opening `data` when it is a spec (samples, labels file, image preprocessing...). */
  dataOptions?: OpenDataOptions;
  /** Labels per sample, overriding the data's own. */
  labels?: Int32Array;
  /** Candidate formats (ids, short names or `weights:activations` pairs); default DEFAULT_CANDIDATES. */
  formats?: (string | FormatCandidate)[];
  /** The candidate id the ranking uses (default: the first). */
  primaryFormat?: string;
  /** Target of the recommendation; with no target and no base, no recommendation is made. */
  target?: Target;
  /** Base format of the recommendation (default: the recipe's defaults, else w4a8). */
  base?: string;
  /** Higher precision for kept layers (default w8a8). */
  higher?: string;
  /** Also run all-but-one for the primary format (default true). */
  allButOne?: boolean;
  batchSize?: number;
  memoryBudgetBytes?: number;
  threads?: number;
  backend?: InferenceBackend;
  signal?: AbortSignal;
  onProgress?: (p: AnalysisProgress) => void;
  /** Called with each layer's report as soon as its isolated runs are done (diagnoses and rank come later). */
  onLayer?: (layer: LayerReport) => void;
}

const VERSION = '0.1.0';

/** Runs the full analysis and returns the report (every quantizable layer present). */
export async function analyzeModel(opts: AnalyzeOptions): Promise<AnalysisReport> {
  const t0 = performance.now();
  const backend = opts.backend ?? ortBackend();
  const threads = opts.threads ?? 1;
  const warnings: string[] = [];
  const model = opts.model ?? loadModelFile(opts.modelPath);
  const graph = new Graph(model, opts.modelPath);
  graph.assertKnownOps();
  const nonFloat = graph.outputs.filter((o) => o.elemType && ![1, 10, 11, 16].includes(o.elemType));
  if (nonFloat.length === graph.outputs.length) throw new QuantLensError('model-output-type', `no model output is a float tensor (${graph.outputs.map((o) => o.name).join(', ')}): output error cannot be measured`, opts.modelPath);
  for (const o of nonFloat) warnings.push(`output '${o.name}' is not a float tensor; it is left out of the output metrics`);

  const candidates = (opts.formats?.length ? opts.formats : DEFAULT_CANDIDATES).map((f) => (typeof f === 'string' ? parseCandidate(f) : f));
  const primary = opts.primaryFormat ?? candidates[0].id;
  if (!candidates.some((c) => c.id === primary)) throw new QuantLensError('bad-format', `primary format '${primary}' is not one of the candidates (${candidates.map((c) => c.id).join(', ')})`);
  const spec = opts.recipe ? effectiveLayerSpec(opts.recipe, '') : DEFAULT_LAYER_SPEC;
  const cal = parseCalibration(spec.calibration);
  if (!cal.ok) throw new QuantLensError('recipe-calibration', cal.error);

  const data = openData(opts, graph);
  if (data.samples <= 0) throw new QuantLensError('data-empty', 'the data has no samples', data.description.source);
  const batchSize = opts.batchSize ?? 8;

  // Layers (shapes inferred on one real sample so that MACs match the data).
  const first = await firstSample(data, batchSize, graph);
  const layers = (await buildInventoryAsync(graph, backend, { feeds: first })).filter((l) => l.weight || l.activationInputs.length);
  if (!layers.length) warnings.push('the model has no quantizable layers (Conv, ConvTranspose, Gemm, MatMul, Gather)');

  const steps = { done: 0, total: 1 + layers.length + candidates.length + (opts.allButOne === false ? 0 : layers.length) };
  const progress = (message: string, inc = 1) => { steps.done += inc; opts.onProgress?.({ done: Math.min(steps.done, steps.total), total: steps.total, message }); };
  opts.onProgress?.({ done: 0, total: steps.total, message: 'capturing float activations' });

  const tc = performance.now();
  const cache = await ActivationCache.capture({ graph, backend, data, tensors: neededTensors(graph, layers), batchSize, memoryBudgetBytes: opts.memoryBudgetBytes, threads, signal: opts.signal });
  try {
    const captureMs = performance.now() - tc;
    if (opts.labels) attachLabels(cache, opts.labels, data.description.source);
    progress('float activations captured');
    const outputsB0: Record<string, Tensor> = {};
    for (const o of graph.outputs) if (cache.has(o.name)) outputsB0[o.name] = cache.get(0, o.name);
    const layout = detectOutputLayout(outputsB0, graph.outputs.map((o) => o.name));
    for (const n of layout.floatOutputs) {
      if (!toFloat32(outputsB0[n]).every(Number.isFinite)) warnings.push(`the float model's output '${n}' holds NaN or infinite values on this data`);
    }
    for (const o of graph.outputs) if (outputsB0[o.name] && !isFloatTensor(outputsB0[o.name]) && !nonFloat.includes(o)) warnings.push(`output '${o.name}' is not a float tensor; it is left out of the output metrics`);

    const constants = await foldConstants(graph, backend, [...derivedConstantsNeeded(graph, layers), ...layers.filter((l) => l.weight).map((l) => l.weight!.tensor)]);
    const floatWeights = new Map<string, Float32Array>();
    for (const l of layers) if (l.weight) {
      const v = constants.get(l.weight.tensor);
      if (!v) throw new QuantLensError('weight-missing', `the weight '${l.weight.tensor}' of layer '${l.name}' could not be computed`, opts.modelPath);
      floatWeights.set(l.name, Float32Array.from(toFloat32(v)));
    }
    const ctx: SensitivityContext = { graph, layers, backend, cache, layout, floatWeights, constants, calibration: cal.spec, threads, signal: opts.signal };
    const floatPassMs = await timeFloatPass(graph, backend, cache, threads);
    const floatAccuracy = layout.classifier ? floatAccuracyOf(cache, layout.classifier, graph) : undefined;

    // Isolated per-layer runs.
    const ts = performance.now();
    const timings: SensitivityTimings = { sessionMs: 0, runMs: 0, totalMs: 0 };
    const reports: LayerReport[] = [];
    for (const layer of layers) {
      throwIfAborted(opts.signal);
      const formats = await analyzeLayerIsolated(ctx, layer, candidates, timings);
      const rep = baseLayerReport(layer, ctx);
      rep.formats = formats;
      reports.push(rep);
      opts.onLayer?.(rep);
      progress(`layer ${layer.name}`);
    }
    // Whole-model configurations: everything quantized per format, then all-but-one for the primary format.
    const allQuantized: AnalysisReport['allQuantized'] = {};
    const halfActivations = candidates.some((c) => /float16|bfloat16|float8/.test(c.activations)) || /fp16|float16/.test(opts.higher ?? '');
    const runner = await ConfigurationRunner.create(ctx, { halfActivations });
    try {
      for (const c of candidates) {
        allQuantized[c.id] = await runner.measure(uniformFormats(layers, mustParseFormat(c.weights), mustParseFormat(c.activations)));
        progress(`all layers in ${c.id}`);
      }
      if (opts.allButOne !== false) {
        const pc = candidates.find((c) => c.id === primary)!;
        const all = uniformFormats(layers, mustParseFormat(pc.weights), mustParseFormat(pc.activations));
        for (const [i, layer] of layers.entries()) {
          const f = new Map(all);
          f.delete(layer.name);
          const r = reports[i].formats[primary] ??= {};
          r.allButOne = await runner.measure(f);
          progress(`all but ${layer.name}`);
        }
      }
      const sensitivityMs = performance.now() - ts;
      rankLayers(reports, primary);
      const lastLayers = new Set(layers.filter((l) => graph.downstreamNodes(l.outputs).every((n) => !QUANTIZED_KINDS.has(n.opType))).map((l) => l.name));
      for (const rep of reports) rep.diagnoses = diagnoseLayer(rep, { primary, candidates, outputLayer: lastLayers.has(rep.name), layerCount: reports.length });

      let recommendation: AnalysisReport['recommendation'];
      let recommendationMs: number | undefined;
      if (opts.target || opts.base) {
        const tr = performance.now();
        recommendation = await recommend({
          ctx, runner, reports, graph, candidates,
          base: opts.base ? parseCandidate(opts.base) : recipeBase(opts.recipe) ?? parseCandidate('w4a8'),
          higher: parseCandidate(opts.higher ?? 'w8a8'),
          target: opts.target ?? { kind: 'min-sqnr-db', value: 30 },
          modelFile: path.basename(opts.modelPath),
          calibration: spec.calibration,
          floatAccuracy,
          onProgress: (m) => opts.onProgress?.({ done: steps.done, total: steps.total, message: m }),
        });
        recommendationMs = performance.now() - tr;
        if (!recommendation.met) warnings.push(recommendation.message);
        const shapes = new Map(layers.flatMap((l) => l.activationInputs.filter((t) => cache.has(t)).map((t) => [t, cache.get(0, t).dims] as const)));
        warnings.push(...fidelityMessages(buildPlan(layers, recommendation.recipe), { layers, graph, shapes }).map((w) => `recommended recipe: ${w}`));
      }
      const desc = data.description;
      return {
        schemaVersion: REPORT_SCHEMA_VERSION,
        tool: { name: 'quantlens', version: VERSION, runtime: backend.version },
        createdAt: new Date().toISOString(),
        model: {
          file: opts.modelPath, opset: graph.opset,
          params: layers.reduce((s, l) => s + l.params, 0),
          macs: layers.every((l) => l.macs !== undefined) ? layers.reduce((s, l) => s + (l.macs ?? 0), 0) : undefined,
          outputs: graph.outputs.map((o) => o.name), layerCount: layers.length,
        },
        data: { kind: desc.kind, synthetic: desc.synthetic, samples: cache.samples, source: desc.source, labels: floatAccuracy !== undefined },
        formats: candidates,
        primaryFormat: primary,
        allQuantized,
        floatAccuracy,
        layers: reports,
        recommendation,
        timings: { totalMs: performance.now() - t0, captureMs, sensitivityMs, recommendationMs, floatPassMs, isolatedMs: timings.totalMs, isolatedRunMs: timings.runMs, isolatedSessionMs: timings.sessionMs },
        warnings: desc.synthetic ? [`the data is synthetic (${desc.samples} samples): errors are indicative, accuracy cannot be measured`, ...warnings] : warnings,
      };
    } finally {
      await runner.release();
    }
  } finally {
    cache.dispose();
  }
}

const QUANTIZED_KINDS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

function openData(opts: AnalyzeOptions, graph: Graph): DataSource {
  const d = opts.data;
  if (d && typeof d === 'object' && 'batches' in d) return d;
  return openDataSource(d ?? { kind: 'synthetic' }, graph.inputs, opts.dataOptions);
}

async function firstSample(data: DataSource, batchSize: number, graph: Graph): Promise<Record<string, Tensor>> {
  for await (const b of data.batches(batchSize)) {
    checkFeeds(graph, b.feeds, data.description.source);
    const out: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(b.feeds)) {
      const n = t.dims[0] ?? 1;
      const per = n ? t.data.length / n : 0;
      out[k] = { type: t.type, dims: t.dims.length ? [1, ...t.dims.slice(1)] : [], data: t.data.subarray(0, t.dims.length ? per : t.data.length) as Tensor['data'] };
    }
    return out;
  }
  throw new QuantLensError('data-empty', 'the data source yielded no samples', data.description.source);
}

function attachLabels(cache: ActivationCache, labels: Int32Array, source: string): void {
  if (labels.length !== cache.samples) throw new QuantLensError('data-labels', `there are ${labels.length} labels for ${cache.samples} samples`, source);
  cache.setLabels(labels);
}

async function timeFloatPass(graph: Graph, backend: InferenceBackend, cache: ActivationCache, threads: number): Promise<number> {
  const session = await backend.createSession(encodeModelProto(graph.model), { optimization: 'all', threads });
  try {
    const t = performance.now();
    for (let b = 0; b < cache.batches; b++) await session.run(cache.feeds(b, graph.inputs.map((i) => i.name)));
    return performance.now() - t;
  } finally {
    await session.release();
  }
}

function floatAccuracyOf(cache: ActivationCache, classifier: string, graph: Graph): number | undefined {
  if (!cache.labels(0)) return undefined;
  const acc = new AccuracyAccumulator(classifier);
  for (let b = 0; b < cache.batches; b++) acc.add({ [classifier]: cache.get(b, classifier) }, cache.labels(b)!);
  void graph;
  return acc.result();
}

function baseLayerReport(layer: QuantLayer, ctx: SensitivityContext): LayerReport {
  const rep: LayerReport = { name: layer.name, opType: layer.opType, kind: layer.kind, nodeIndex: layer.nodeIndex, params: layer.params, macs: layer.macs, formats: {}, diagnoses: [], rank: 0 };
  if (layer.weight) {
    rep.weightTensor = layer.weight.tensor;
    rep.weightShape = layer.weight.dims;
    const s = layer.weightStats;
    if (s) rep.weightStats = { min: s.min, max: s.max, absMax: s.absMax, std: s.std, channelRangeSpread: s.channelRangeSpread, outlierRatio: s.outlierRatio, channelAbsMax: s.channelAbsMax };
    rep.weightHistogram = weightHistogram(ctx.floatWeights.get(layer.name)!);
  }
  if (layer.activationInputs.length) rep.activation = activationStats(ctx, layer.activationInputs[0]);
  return rep;
}

/** Ranks layers by isolated SQNR under the primary format (lowest SQNR = rank 1); layers without it come last. */
export function rankLayers(reports: LayerReport[], primary: string): void {
  const score = (r: LayerReport) => r.formats[primary]?.isolated?.sqnrDb ?? Infinity;
  const order = reports.slice().sort((a, b) => score(a) - score(b));
  order.forEach((r, i) => { r.rank = i + 1; });
}

function recipeBase(recipe?: Recipe): FormatCandidate | undefined {
  if (!recipe?.defaults?.weights && !recipe?.defaults?.activations) return undefined;
  const s = effectiveLayerSpec(recipe, '');
  return parseCandidate(`${s.weights}:${s.activations}`);
}
