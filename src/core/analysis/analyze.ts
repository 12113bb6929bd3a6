/** analyzeModel: the whole per-layer sensitivity analysis of a model, assembled into an AnalysisReport. */
import * as path from 'path';
import { QuantLensError } from '../errors';
import { Graph } from '../onnx/graph';
import { QuantLayer } from '../onnx/layer';
import { loadModelFile } from '../onnx/model-file';
import { encodeModelProto, ModelProto } from '../onnx/proto';
import { inferShapes } from '../onnx/shapes';
import { buildInventoryAsync } from '../onnx/inventory';
import { foldConstants } from '../onnx/constant-fold';
import { Tensor, toFloat32 } from '../onnx/tensor-data';
import { InferenceBackend } from '../runtime/backend';
import { MeteredBackend } from '../runtime/metered-backend';
import { collectGarbage } from '../gc';
import { checkExecutionProviders, defaultThreads, ortBackend } from '../runtime/ort-backend';
import { DataSource, effectiveBatchSize } from '../data/source';
import { DataSpec, OpenDataOptions, openDataSource } from '../data/open';
import { AnalysisReport, FormatCandidate, LayerReport, REPORT_SCHEMA_VERSION, Target } from '../../shared/report';
import { exportRepairWeights, repairCandidates, RepairCandidates } from './remedy';
import { QuantAlgorithm } from '../../shared/recipe';
import { DEFAULT_LAYER_SPEC, effectiveLayerSpec, parseCalibration, Recipe } from '../../shared/recipe';
import { mustParseFormat } from '../../shared/formats';
import { ActivationCache, checkFeeds, throwIfAborted } from './activation-cache';
import { DEFAULT_CANDIDATES, parseCandidate } from './candidates';
import { AccuracyAccumulator, detectOutputLayout, isFloatTensor } from './metrics';
import { derivedConstantsNeeded, neededTensors } from './subgraph';
import { activationSetting, analyzeLayerIsolated, ConfigurationRunner, quantizedWeight, SensitivityContext, SensitivityTimings, uniformFormats, weightErrors, WeightErrors } from './sensitivity';
import { Estimator, estimateSqnrDb, formatKey, screenLayers, ScreeningResult } from './screening';
import { AnalysisPhase, AnalysisProgress, applies, DecideOptions, decideMeasurements, predictedBoundary, repairLayers, repairTooCostly, REPAIR_MAX_FAN_IN, REPAIR_MAX_VALUES, estimateFor, fixedBatch, outputPower, PhaseProgress, predictConfiguration, uniqueFormats } from './decide';
import { analysisKey, AnalysisState } from './analysis-state';
import { ActivationObserver, activationStats, weightHistogram } from './layer-stats';
import { diagnoseLayer } from './diagnosis';
import { PREDICTED_SEARCH_ABOVE, recommend } from './recommend';
import { buildPlan } from '../quant/plan';
import { fidelityMessages } from '../quant/ort-fidelity';

export type { AnalysisPhase, AnalysisProgress };

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
  /** Also run all-but-one for the primary format (default: only on models of at most 30 layers). */
  allButOne?: boolean;
  /**
   * 'decisive' (default): every layer x format is estimated by the first-order screening, and exact isolated runs
   * are made only where they decide (the most sensitive layers, the recommendation's boundary, layers the screening
   * cannot reach). 'all': every layer x format is measured exactly (and still estimated, for comparison).
   */
  measure?: 'all' | 'decisive';
  /** Run the first-order screening (default true; with false, 'decisive' falls back to 'all'). */
  screening?: boolean;
  /** The screening's estimator (default 'fisher', chosen by measurement: see README). */
  estimator?: Estimator;
  /** Samples per screening forward + backward run (default 1, or the model's fixed batch). */
  screeningBatchSize?: number;
  /**
   * The screening reads the data's first samples only, at most this many (default SCREENING_SAMPLES): its cost is a
   * forward + backward run per sample (ViT-B/16: about 4 forwards), and the estimates only rank; what they decide is
   * measured on all the samples. The report says how many were screened (`method.screenedSamples`).
   */
  screeningSamples?: number;
  /**
   * Repair algorithms tried on every layer at the base weight format (the recommendation's base, else the primary
   * format): the report shows each layer's output SQNR after them next to plain rounding, and the recommendation may
   * repair a layer instead of keeping it. Default ['gptq', 'bias-correction']; false skips.
   */
  repair?: readonly QuantAlgorithm[] | false;
  batchSize?: number;
  memoryBudgetBytes?: number;
  /** Intra-op threads (default: the machine's cores). */
  threads?: number;
  /** ONNX Runtime execution providers, e.g. ['cuda'] (default cpu). */
  executionProviders?: string[];
  /** Folder of resumable analysis state: an interrupted run with the same model, data, formats and options resumes from it. */
  stateDir?: string;
  /** Called with the report so far (`partial` set) after each finished step. */
  onPartialReport?: (report: AnalysisReport) => void;
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
  const backend = new MeteredBackend(opts.backend ?? ortBackend());
  const threads = opts.threads;
  const eps = opts.executionProviders?.length ? opts.executionProviders : undefined;
  const offered = backend.executionProviders?.();
  if (eps && offered) checkExecutionProviders(eps.filter((e) => e !== 'cpu'), offered); // before any work
  const warnings: string[] = [];
  const model = opts.model ?? loadModelFile(opts.modelPath);
  collectGarbage(); // the file's bytes (parseModel moved the weights it held to aligned buffers)
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
  const wantRecommendation = !!(opts.target || opts.base);
  const base = opts.base ? parseCandidate(opts.base) : recipeBase(opts.recipe) ?? parseCandidate('w4a8');
  const higher = parseCandidate(opts.higher ?? 'w8a8');

  const data = openData(opts, graph);
  if (data.samples <= 0) throw new QuantLensError('data-empty', 'the data has no samples', data.description.source);
  const batchSize = opts.batchSize ?? 8;

  // Layers (shapes inferred on one real sample so that MACs match the data).
  const first = await firstSample(data, batchSize, graph);
  const tensorShapes = await inferShapes(graph.model, backend, first, { threads: threads ?? defaultThreads() });
  const layers = (await buildInventoryAsync(graph, backend, { feeds: first, shapes: tensorShapes })).filter((l) => l.weight || l.activationInputs.length);
  const firstSamples = Math.max(1, Object.values(first)[0]?.dims[0] ?? 1);
  // float32 bytes of one sample of a tensor, from the shapes of the first sample's run
  const bytesPerSample = (t: string) => { const d = tensorShapes.get(t); return d ? (4 * d.reduce((a, b) => a * b, 1)) / firstSamples : undefined; };
  if (!layers.length) warnings.push('the model has no quantizable layers (Conv, ConvTranspose, Gemm, MatMul, Gather)');
  const screeningOn = opts.screening !== false && layers.length > 0;
  const measureAll = opts.measure === 'all' || !screeningOn;
  const allButOne = opts.allButOne ?? layers.length <= ALL_BUT_ONE_MAX_LAYERS;
  const estimator: Estimator = opts.estimator ?? 'fisher';
  const key = { candidates, primary, base, higher, target: opts.target ?? null, measureAll, allButOne, estimator, batchSize, calibration: spec.calibration, labels: opts.labels ? Array.from(opts.labels) : null, screening: screeningOn, screeningBatch: opts.screeningBatchSize ?? null, screeningSamples: opts.screeningSamples ?? SCREENING_SAMPLES };
  const state = opts.stateDir ? AnalysisState.open(opts.stateDir, analysisKey(opts.modelPath, graph, data, first, key)) : undefined;

  const progress = new PhaseProgress(opts.onProgress, 2 + (measureAll ? layers.length : Math.min(layers.length, 8)) + (measureAll ? candidates.length : 1) + (allButOne ? layers.length : 0) + (wantRecommendation ? 4 : 0));
  progress.enter('calibrating', 'capturing float activations');

  // 1. One float pass: inputs, outputs and every layer's input activation (calibration and statistics); with
  //    'all', everything the isolated runs read.
  const tc = performance.now();
  backend.enter('calibration pass');
  const capture = { graph, backend, data, batchSize, memoryBudgetBytes: opts.memoryBudgetBytes, threads, executionProviders: eps, signal: opts.signal, bytesPerSample };
  // 'decisive' keeps no intermediate tensor yet: input activations are observed (range, calibration, statistics) and dropped.
  const actFormats = uniqueFormats([...candidates, base, higher].map((c) => c.activations));
  const observer = measureAll ? undefined : new ActivationObserver(cal.spec, actFormats, Math.ceil(OBSERVED_VALUES / Math.max(1, Math.ceil(data.samples / batchSize))));
  const cache = await ActivationCache.capture({ ...capture, tensors: measureAll ? neededTensors(graph, layers) : [], observed: observer ? layers.flatMap((l) => l.activationInputs) : undefined, observe: observer ? (n, t, part) => observer.observe(n, t, part) : undefined, sliceBytes: observer?.takesSlices ? CALIBRATION_SLICE_BYTES : undefined });
  let runner: ConfigurationRunner | undefined;
  try {
    let captureMs = performance.now() - tc;
    if (opts.labels) attachLabels(cache, opts.labels, data.description.source);
    const outputsB0: Record<string, Tensor> = {};
    for (const o of graph.outputs) if (cache.has(o.name)) outputsB0[o.name] = cache.get(0, o.name);
    const layout = detectOutputLayout(outputsB0, graph.outputs.map((o) => o.name));
    for (const n of layout.floatOutputs) {
      if (!toFloat32(outputsB0[n]).every(Number.isFinite)) warnings.push(`the float model's output '${n}' holds NaN or infinite values on this data`);
    }
    for (const o of graph.outputs) if (outputsB0[o.name] && !isFloatTensor(outputsB0[o.name]) && !nonFloat.includes(o)) warnings.push(`output '${o.name}' is not a float tensor; it is left out of the output metrics`);

    backend.enter('constants');
    const constants = await foldConstants(graph, backend, [...derivedConstantsNeeded(graph, layers), ...layers.filter((l) => l.weight).map((l) => l.weight!.tensor)]);
    const floatWeights = new Map<string, Float32Array>();
    for (const l of layers) if (l.weight) {
      const v = constants.get(l.weight.tensor);
      if (!v) throw new QuantLensError('weight-missing', `the weight '${l.weight.tensor}' of layer '${l.name}' could not be computed`, opts.modelPath);
      const w = toFloat32(v);
      floatWeights.set(l.name, w instanceof Float32Array ? w : Float32Array.from(w));
    }
    const ctx: SensitivityContext = { graph, layers, backend, cache, layout, floatWeights, constants, calibration: cal.spec, threads, executionProviders: eps, signal: opts.signal, observer };
    const floatAccuracy = layout.classifier ? floatAccuracyOf(cache, layout.classifier) : undefined;
    backend.enter('layer statistics');
    const reports = layers.map((l) => baseLayerReport(l, ctx, candidates));
    observer?.dropSamples(); // the statistics are taken: only the ranges are read from here on
    // the weight SQNRs come with the screening's quantization of each layer and format (computed here without it)
    if (!screeningOn) for (const [i, l] of layers.entries()) addWeightSqnr(reports[i], l, ctx, candidates);
    const repOf = new Map(reports.map((r) => [r.name, r]));
    const allQuantized: AnalysisReport['allQuantized'] = {};
    const allQuantizedEstimate: Record<string, number> = {};
    let recommendation: AnalysisReport['recommendation'];
    const timings: SensitivityTimings = { sessionMs: 0, runMs: 0, totalMs: 0 };
    const times = { screeningMs: 0, sensitivityMs: 0, recommendationMs: undefined as number | undefined };
    let screening: ScreeningResult | undefined;
    let measured = new Set<string>();
    let repairedLayers: number | undefined;
    const assemble = (partial?: AnalysisReport['partial']): AnalysisReport => {
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
        allQuantizedEstimate: Object.keys(allQuantizedEstimate).length ? allQuantizedEstimate : undefined,
        method: {
          measure: measureAll ? 'all' : 'decisive', estimator: screening ? estimator : 'none', screenedSamples: screening?.samples ?? 0,
          measuredLayers: measured.size, unscreenedLayers: screening?.unsupported.size ?? 0, allButOne, repairedLayers, resumed: state?.resumed || undefined, threads: threads ?? defaultThreads(), executionProviders: eps,
        },
        floatAccuracy,
        layers: reports,
        recommendation,
        partial,
        timings: { phases: partial ? undefined : backend.finish(), totalMs: performance.now() - t0, captureMs, sensitivityMs: times.sensitivityMs, recommendationMs: times.recommendationMs, isolatedMs: timings.totalMs, isolatedRunMs: timings.runMs, isolatedSessionMs: timings.sessionMs, screeningMs: times.screeningMs },
        warnings: desc.synthetic ? [`the data is synthetic (${desc.samples} samples): errors are indicative, accuracy cannot be measured`, ...warnings] : warnings.slice(),
      };
    };
    const partial = (phase: string) => { if (opts.onPartialReport) opts.onPartialReport(assemble({ phase, done: progress.done, total: progress.total })); };
    progress.step('calibrating', 'float activations captured');

    // 2. First-order screening of every layer x format.
    const ts = performance.now();
    if (screeningOn) {
      backend.enter('screening');
      progress.enter('screening', 'first-order estimates: forward + backward per sample');
      const extra = [base, higher];
      screening = state?.screening() ?? await screenLayers({
        graph, layers, backend, data, floatOutputs: layout.floatOutputs, floatWeights,
        weightFormats: uniqueFormats([...candidates, ...extra].map((c) => c.weights)),
        activationFormats: uniqueFormats([...candidates, ...extra].map((c) => c.activations)),
        activationSetting: (t, f) => activationSetting(ctx, t, f),
        batchSize: opts.screeningBatchSize ?? fixedBatch(graph) ?? 1, maxSamples: opts.screeningSamples ?? SCREENING_SAMPLES,
        threads, executionProviders: eps, signal: opts.signal,
      });
      state?.saveScreening(screening);
      // the screening's weight-sized buffers (quantized weights, Fisher diagonals) are garbage now; the next phases allocate
      // little in JavaScript, so V8 would keep them through ONNX Runtime's sessions (+1.15 GB on the 2.4 GB MLP's capture)
      collectGarbage();
      for (const l of layers) {
        const r = repOf.get(l.name)!;
        addWeightSqnr(r, l, ctx, candidates, screening.weightErrors?.get(l.name));
        const why = screening.unsupported.get(l.name);
        if (why) r.notScreened = why;
        for (const c of candidates) {
          if (!applies(l, c)) continue;
          const e = estimateSqnrDb(screening, l, mustParseFormat(c.weights), mustParseFormat(c.activations), estimator);
          if (e !== undefined) (r.formats[c.id] ??= {}).estimate = e;
        }
      }
      if (screening.unsupported.size) {
        const reasons = [...new Set(screening.unsupported.values())];
        warnings.push(`the first-order screening could not reach ${screening.unsupported.size} layer(s) (${reasons.slice(0, 3).join('; ')}${reasons.length > 3 ? '; ...' : ''}): they are measured exactly instead`);
      }
      progress.step('screening', `${layers.length} layers x ${candidates.length} formats estimated`);
      partial('screening');
    }
    times.screeningMs = performance.now() - ts;

    // 3. Exact isolated runs: every layer x format ('all'), or where they decide.
    const decideOpts: DecideOptions | undefined = measureAll ? undefined : { layers, reports, candidates, primary, base, higher, estimate: (l, c) => estimateFor(screening!, l, c, estimator), target: wantRecommendation ? opts.target ?? { kind: 'min-sqnr-db', value: 30 } : undefined, unsupported: screening!.unsupported };
    const plan = decideOpts ? decideMeasurements(decideOpts) : layers.map((layer) => ({ layer, formats: candidates }));
    progress.resize(2 + plan.length + (measureAll ? candidates.length : 1) + (allButOne ? layers.length : 0) + (wantRecommendation ? 4 : 0));
    measured = new Set(plan.map((p) => p.layer.name));
    for (const r of reports) if (!measured.has(r.name)) opts.onLayer?.(r);
    if (!measureAll && plan.length) {
      backend.enter('capture for measured layers');
      progress.enter('measuring', `capturing the activations of ${plan.length} layer(s) to measure`);
      const te = performance.now();
      await cache.extend({ ...capture, tensors: neededTensors(graph, plan.map((p) => p.layer)), sliceBytes: CALIBRATION_SLICE_BYTES });
      captureMs += performance.now() - te;
    }
    const tm = performance.now();
    backend.enter('isolated runs');
    for (const { layer, formats } of plan) {
      throwIfAborted(opts.signal);
      const saved = state?.isolated(layer.name) ?? {};
      const todo = formats.filter((c) => !saved[c.id]);
      const got = todo.length ? await analyzeLayerIsolated(ctx, layer, todo, timings) : {};
      const rep = repOf.get(layer.name)!;
      for (const [id, r] of Object.entries({ ...saved, ...got })) rep.formats[id] = { ...rep.formats[id], ...r, estimate: rep.formats[id]?.estimate };
      rep.measured = true;
      opts.onLayer?.(rep);
      progress.step('measuring', `layer ${layer.name}`);
      partial('measuring');
      // saved after the partial report: a run killed in between leaves a report holding all that the state holds
      state?.saveIsolated(layer.name, { ...saved, ...got });
    }

    // the first batch's shapes of the layers' inputs (the recipe's fidelity check); then, with the ranges observed
    // ('decisive'), only the graph's inputs and outputs are read: the intermediate tensors the isolated runs read are let go
    const activationDims = new Map(layers.flatMap((l) => l.activationInputs.filter((t) => cache.has(t)).map((t) => [t, cache.get(0, t).dims] as const)));
    if (observer) cache.retain([...graph.inputs, ...graph.outputs].map((v) => v.name));

    // 4. Whole-model configurations: every layer quantized per format, then all-but-one for the primary format.
    backend.enter('whole-model');
    const halfActivations = [...candidates, base, higher].some((c) => /float16|bfloat16|float8/.test(c.activations));
    // a run's fake-quantized activations follow its samples: batches run in slices where the layers' inputs of a batch pass the slice size
    const layerInputBytes = [...new Set(layers.flatMap((l) => l.activationInputs))].reduce((sum, t) => sum + (bytesPerSample(t) ?? 0), 0);
    const samplesPerRun = layerInputBytes * batchSize > CALIBRATION_SLICE_BYTES ? Math.max(1, Math.floor(CALIBRATION_SLICE_BYTES / layerInputBytes)) : undefined;
    runner = await ConfigurationRunner.create(ctx, { halfActivations, memo: state?.configurations(), samplesPerRun });
    for (const c of candidates) {
      const f = uniformFormats(layers, mustParseFormat(c.weights), mustParseFormat(c.activations));
      const predicted = measureAll || c.id === primary ? undefined : predictConfiguration(screening!, layers, f, estimator);
      if (predicted !== undefined) { allQuantizedEstimate[c.id] = predicted; continue; }
      allQuantized[c.id] = await runner.measure(f);
      progress.step('whole-model', `all layers in ${c.id}`);
      partial('whole-model');
    }
    if (allButOne) {
      backend.enter('all-but-one');
      const pc = candidates.find((c) => c.id === primary)!;
      const all = uniformFormats(layers, mustParseFormat(pc.weights), mustParseFormat(pc.activations));
      for (const [i, layer] of layers.entries()) {
        const f = new Map(all);
        f.delete(layer.name);
        const r = reports[i].formats[primary] ??= {};
        r.allButOne = await runner.measure(f);
        progress.step('all-but-one', `all but ${layer.name}`);
      }
      partial('all-but-one');
    }
    times.sensitivityMs = performance.now() - tm + times.screeningMs;
    rankLayers(reports, primary);
    const lastLayers = new Set(layers.filter((l) => graph.downstreamNodes(l.outputs).every((n) => !QUANTIZED_KINDS.has(n.opType))).map((l) => l.name));
    for (const rep of reports) rep.diagnoses = diagnoseLayer(rep, { primary, candidates, outputLayer: lastLayers.has(rep.name), layerCount: reports.length });

    // what repair gives per layer at the base weight format (remedy.ts), and repaired weights the recommendation may use
    let repairs: RepairCandidates | undefined;
    const repairWeights = wantRecommendation ? base.weights : candidates.find((c) => c.id === primary)!.weights;
    // A target out of reach even with every layer in the higher format (predicted, then measured: the count search's
    // first point then) cannot be met by repairing layers at the base format: no repair candidates (default mode).
    let outOfReach = false;
    const goal = decideOpts?.target;
    if (wantRecommendation && !opts.repair && runner && goal?.kind === 'min-sqnr-db' && predictedBoundary(decideOpts!)?.reached === false) {
      backend.enter('recommendation (count-based)');
      progress.enter('recommending', `measuring all ${layers.length} layers in ${higher.id}`);
      const m = await runner.measure(uniformFormats(layers, mustParseFormat(higher.weights), mustParseFormat(higher.activations)));
      if (m.sqnrDb < goal.value) {
        outOfReach = true;
        warnings.push(`repair not computed: the target (output SQNR >= ${goal.value} dB) is out of reach even with every layer in ${higher.id} (measured ${m.sqnrDb.toFixed(1)} dB), so no repair at ${base.id} can change the recommendation`);
        for (const rep of reports) if (rep.weightTensor) rep.repairNotComputed = 'out-of-reach';
      }
    }
    if (opts.repair !== false && !outOfReach && mustParseFormat(repairWeights).kind === 'int') {
      backend.enter('repair candidates');
      await runner.suspend(); // the repair holds model copies of its own: the peak memory of the analysis
      // 'decisive': only on the layers the recommendation's choice turns on (a repair can only replace keeping a layer)
      const decisive = decideOpts ? repairLayers(decideOpts, measured) : layers;
      // layers too big to repair in reasonable time are left out unless the user named the algorithms (--repair)
      const tooLarge = new Set(opts.repair ? [] : decisive.filter(repairTooCostly).map((l) => l.name));
      const tried = decisive.filter((l) => !tooLarge.has(l.name));
      if (tooLarge.size) warnings.push(`repair not computed on ${tooLarge.size} layer(s) too large to repair in reasonable time (fan-in over ${REPAIR_MAX_FAN_IN} or over ${REPAIR_MAX_VALUES / 2 ** 20}M weight values): ${[...tooLarge].join(', ')}; name the algorithms with --repair to force it`);
      repairedLayers = tried.length;
      // on big models in the default mode the candidates are fitted on the float inputs, all in one run (see repairCandidates)
      const sequential = measureAll || layers.length <= PREDICTED_SEARCH_ABOVE;
      if (tried.length) repairs = await repairCandidates({ model, layers: tried, weights: repairWeights, data, backend, algorithms: opts.repair ?? defaultRepairAlgorithms(measureAll, tried.length < layers.length), signal: opts.signal, threads, sequential,
        onProgress: (m) => progress.enter('recommending', m) });
      const triedNames = new Set(tried.map((l) => l.name));
      for (const rep of reports) {
        const r = repairs?.results.get(rep.name);
        if (r) rep.repair = r;
        else if (tooLarge.has(rep.name)) rep.repairNotComputed = 'too-large';
        else if (!triedNames.has(rep.name) && rep.weightTensor) rep.repairNotComputed = 'not-decisive';
      }
    }
    if (wantRecommendation) {
      const tr = performance.now();
      backend.enter('recommendation (count-based)');
      progress.enter('recommending', 'ordering layers by sensitivity per byte');
      recommendation = await recommend({
        ctx, runner, reports, graph, candidates, base, higher, repairs: repairs?.weights, repairResults: repairs?.results,
        refit: repairs ? async (kept, repaired) => {
          await runner!.suspend();
          backend.enter('recommendation (export fit)');
          try { return await exportRepairWeights({ model, layers, data, backend, signal: opts.signal, base, higher, calibration: spec.calibration, kept, repaired, threads }); } finally { backend.enter('recommendation (remedy search)'); }
        } : undefined,
        target: opts.target ?? { kind: 'min-sqnr-db', value: 30 },
        modelFile: path.basename(opts.modelPath),
        calibration: spec.calibration,
        floatAccuracy,
        mode: measureAll ? 'all' : 'decisive',
        estimate: screening ? (l, c) => estimateFor(screening!, layers.find((x) => x.name === l)!, c, estimator) : undefined,
        signalPower: screening && screening.samples ? outputPower(cache, layout) : undefined,
        onProgress: (m) => progress.enter('recommending', m),
        onRemedySearch: () => backend.enter('recommendation (remedy search)'),
      });
      times.recommendationMs = performance.now() - tr;
      if (!recommendation.met) warnings.push(recommendation.message);
      const thin = (recommendation.repaired ?? []).flatMap((n) => { const r = reports.find((x) => x.name === n)?.repair; return r?.rows !== undefined && r.inputs !== undefined && r.rows < r.inputs ? [{ n, rows: r.rows, inputs: r.inputs }] : []; });
      if (thin.length) {
        warnings.push(`the recommendation repairs ${thin.length === 1 ? `'${thin[0].n}'` : `${thin.length} layers`} fitted on fewer calibration rows than the weight has inputs (${thin[0].rows} rows for ${thin[0].inputs} inputs${thin.length > 1 ? ` on '${thin[0].n}'` : ''}): the measured gain is on the samples the repair was fitted to and may not hold on other data; analyze with more samples`);
      }
      warnings.push(...fidelityMessages(buildPlan(layers, recommendation.recipe), { layers, graph, shapes: activationDims }).map((w) => `recommended recipe: ${w}`));
    }
    backend.enter('report');
    const report = assemble();
    state?.finish();
    progress.finish(wantRecommendation ? 'recommending' : 'measuring', 'analysis complete');
    return report;
  } finally {
    backend.stop();
    await runner?.release();
    cache.dispose();
  }
}

/**
 * The repair algorithms tried when `--repair` does not name them: GPTQ and bias correction; when the decisive mode
 * leaves layers out, GPTQ only (bias correction's result is only shown: the remedy search measures weight-only repairs).
 */
export function defaultRepairAlgorithms(measureAll: boolean, someLeftOut: boolean): QuantAlgorithm[] {
  return !measureAll && someLeftOut ? ['gptq'] : ['gptq', 'bias-correction'];
}

/** Fetched bytes of a batch over which the calibration pass and the capture for measured layers run it in slices of fewer samples (ActivationCache `sliceBytes`); the layers' input bytes over which whole-model configurations do. */
export const CALIBRATION_SLICE_BYTES = 64 * 2 ** 20;

/** Samples the screening reads by default (AnalyzeOptions.screeningSamples). */
export const SCREENING_SAMPLES = 64;

/** Values per input activation the statistics keep (a regular subsample; ranges are exact). */
const OBSERVED_VALUES = 1 << 18;

/** On models with more layers than this, all-but-one is opt-in (it costs one full pass per layer). */
export const ALL_BUT_ONE_MAX_LAYERS = 30;

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
    const keep = effectiveBatchSize(graph.inputs, 1); // a fixed batch dim (e.g. 4) is fed whole
    for (const [k, t] of Object.entries(b.feeds)) {
      const n = t.dims[0] ?? 1;
      const per = n ? t.data.length / n : 0;
      out[k] = { type: t.type, dims: t.dims.length ? [keep, ...t.dims.slice(1)] : [], data: t.data.subarray(0, t.dims.length ? per * keep : t.data.length) as Tensor['data'] };
    }
    return out;
  }
  throw new QuantLensError('data-empty', 'the data source yielded no samples', data.description.source);
}

function attachLabels(cache: ActivationCache, labels: Int32Array, source: string): void {
  if (labels.length !== cache.samples) throw new QuantLensError('data-labels', `there are ${labels.length} labels for ${cache.samples} samples`, source);
  cache.setLabels(labels);
}

function floatAccuracyOf(cache: ActivationCache, classifier: string): number | undefined {
  if (!cache.labels(0)) return undefined;
  const acc = new AccuracyAccumulator(classifier);
  for (let b = 0; b < cache.batches; b++) acc.add({ [classifier]: cache.get(b, classifier) }, cache.labels(b)!);
  return acc.result();
}

/** A layer's report before any run: weight statistics and input-activation statistics, an entry per candidate that applies (pure JS). */
function baseLayerReport(layer: QuantLayer, ctx: SensitivityContext, candidates: readonly FormatCandidate[]): LayerReport {
  const rep: LayerReport = { name: layer.name, opType: layer.opType, kind: layer.kind, nodeIndex: layer.nodeIndex, params: layer.params, macs: layer.macs, formats: {}, diagnoses: [], rank: 0 };
  if (layer.weight) {
    rep.weightTensor = layer.weight.tensor;
    rep.weightShape = layer.weight.dims;
    const s = layer.weightStats;
    if (s) rep.weightStats = { min: s.min, max: s.max, absMax: s.absMax, std: s.std, channelRangeSpread: s.channelRangeSpread, outlierRatio: s.outlierRatio, channelAbsMax: s.channelAbsMax };
    rep.weightHistogram = weightHistogram(ctx.floatWeights.get(layer.name)!);
  }
  if (layer.activationInputs.length) rep.activation = activationStats(ctx, layer.activationInputs[0]);
  for (const c of candidates) if (applies(layer, c)) rep.formats[c.id] = {};
  return rep;
}

/** Weight SQNR per candidate (tensor and per channel): from `known` (per weight format key), else by quantizing (once per weight format). */
function addWeightSqnr(rep: LayerReport, layer: QuantLayer, ctx: SensitivityContext, candidates: readonly FormatCandidate[], known?: ReadonlyMap<string, WeightErrors>): void {
  const floatW = ctx.floatWeights.get(layer.name);
  if (!floatW || !layer.weight) return;
  const done = new Map(known);
  for (const c of candidates) {
    const r = rep.formats[c.id];
    const wf = mustParseFormat(c.weights);
    if (!r || wf.kind === 'float') continue;
    let e = done.get(formatKey(wf));
    if (!e) {
      const qw = quantizedWeight(ctx, layer, wf);
      if (!qw) continue;
      done.set(formatKey(wf), (e = weightErrors(floatW, qw.fake, layer.weight.dims, layer.weight.channelAxis)));
    }
    r.weightSqnrDb = Math.round(e.total * 1000) / 1000;
    r.weightChannelSqnrDb = e.channels;
  }
}

/** Ranks layers by isolated SQNR under the primary format, measured or else estimated (lowest = rank 1); layers with neither come last. */
export function rankLayers(reports: LayerReport[], primary: string): void {
  const score = (r: LayerReport) => r.formats[primary]?.isolated?.sqnrDb ?? r.formats[primary]?.estimate ?? Infinity;
  const order = reports.slice().sort((a, b) => score(a) - score(b));
  order.forEach((r, i) => { r.rank = i + 1; });
}

function recipeBase(recipe?: Recipe): FormatCandidate | undefined {
  if (!recipe?.defaults?.weights && !recipe?.defaults?.activations) return undefined;
  const s = effectiveLayerSpec(recipe, '');
  return parseCandidate(`${s.weights}:${s.activations}`);
}
