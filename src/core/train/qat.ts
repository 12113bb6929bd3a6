/** The QAT job: builds the training step, runs it batch by batch in ONNX Runtime, reports progress, checkpoints, cancels. */
import { QuantLensError } from '../errors';
import { collectGarbage } from '../gc';
import { Graph } from '../onnx/graph';
import { DataType, ModelProto } from '../onnx/proto';
import { sizeOf, Tensor, TensorArray } from '../onnx/tensor-data';
import { InferenceBackend } from '../runtime/backend';
import { ortBackend } from '../runtime/ort-backend';
import { Recipe } from '../../shared/recipe';
import { TrainedScope, TrainingLogEntry, TrainingProgress, TrainScopeMode } from '../../shared/training';
import { loadCheckpoint, saveCheckpoint } from './checkpoint';
import { FakeQuantSpec } from './fake-quant';
import { LossSpec } from './losses';
import { LrSchedule, learningRate, OPT_INPUTS, OptimizerSpec } from './optimizer';
import { constFloat, PlanLayer, planFromRecipe, trainableTensors } from './quant-plan';
import { calibrate } from './calibration';
import { Rng } from './random';
import { buildTrainStep, withParams } from './train-step';
import { loopTrainStep } from './loop';
import { prepareForTraining } from './export';
import { accuracy, predict } from './evaluate';
import { argmaxRows, checkSamples, fixedBatch, gatherRows, logitsTensor, runBatches, sampleCount, SampleSet, withOutput } from './batches';
import { planBatches } from './batch-plan';
import { chooseTrainScope } from './train-scope';
import { SEPARATE_OPTIMIZER_VALUES, SplitOptimizer } from './split-optimizer';
import { createProtoSession } from '../runtime/proto-session';

export { CALIBRATION_FETCH_BYTES, fetchGroups } from './calibration';
export { argmaxRows, gatherRows, logitsTensor, runBatches, withOutput } from './batches';
export type { SampleSet } from './batches';

/**
 * Training data: one tensor per model input (`inputs`, by name; integer inputs such as token ids and masks are fed
 * as they are and get no gradient), or `input` alone for a one-input model; sample axis first; optional class labels.
 */
export interface QatData {
  inputs?: SampleSet;
  input?: Tensor;
  labels?: Int32Array;
}

/** Options of runQat. */
export interface QatOptions {
  model: ModelProto;
  file?: string;
  /** Formats per layer; null trains in FP32 (no fake quantization). */
  recipe: Pick<Recipe, 'defaults' | 'layers'> | null;
  data: QatData;
  batchSize?: number;
  /** Budget: steps, or epochs (steps win when both are given). */
  steps?: number;
  epochs?: number;
  /** Peak learning rate (default defaultLearningRate of the recipe's weight formats). */
  lr?: number;
  schedule?: LrSchedule;
  optimizer?: OptimizerSpec;
  /** Loss weights; default cross-entropy with labels, else KL distillation against the FP32 model. */
  loss?: Partial<LossSpec>;
  /** Learn quantization scales with LSQ (default true). */
  learnScales?: boolean;
  /** Initial weight scales (default 'mse'). */
  weightInit?: 'minmax' | 'mse';
  /** Samples used to calibrate activation ranges (default 512). */
  calibrationSamples?: number;
  /** Bytes of activations one calibration run fetches at most (default CALIBRATION_FETCH_BYTES; small in tests). */
  calibrationFetchBytes?: number;
  /** Activation ranges from ReduceMin/ReduceMax in the calibration graph (default true); false fetches the activations (the same ranges, slower). */
  calibrationReduce?: boolean;
  seed?: number;
  onProgress?: (p: TrainingProgress) => void;
  /** Report every this many steps (default 20). */
  progressEvery?: number;
  signal?: AbortSignal;
  checkpointPath?: string;
  /** Checkpoint every this many steps (default: each report). */
  checkpointEvery?: number;
  /** Held-out data evaluated (simulated model: accuracy with labels, top-1 agreement with the FP32 model) every `every` steps (default: each epoch) and at the end. */
  evaluation?: { data: QatData; every?: number };
  threads?: number;
  /**
   * Training steps per session run, inside an ONNX Loop (default 8; 1 runs the plain step graph). Runs with frozen
   * weights take 1 (the Loop only saves copying trained state, and the fused frozen MatMuls read a scale copy fed per run).
   */
  stepsPerRun?: number;
  /**
   * Samples per forward/backward pass inside a step (gradients are accumulated over the step's micro-batches).
   * Default: the model's fixed batch dim if it has one, else the largest divisor of the batch size whose
   * activations fit `activationBudgetBytes`.
   */
  microBatch?: number;
  /** Memory the activations kept for backward may take (default 1 GiB); sets the micro-batch (see `microBatch`). */
  activationBudgetBytes?: number;
  /**
   * ONNX Runtime's memory arena for the step session. Default: on below ARENA_MAX_PARAMS trained values (faster
   * steps), off above (ViT-B/16: peak RSS 8.4 -> 6.0 GB for 4% more CPU time a step). Frozen weights do not count:
   * their fused MatMuls' block temporaries are what the arena keeps for the next step (a 2.4 GB MLP, scales trained:
   * 8 -> 2.8 s a step, peak 6.08 -> 6.10 GB; ViT-B/16 with --train quant-params: 6.0 -> 5.2-5.6 s, 3.77 -> 3.62 GB).
   */
  arena?: boolean;
  /** What to train (default 'auto': everything when fullTrainingBytes fits `memoryBudgetBytes`, else the quantization parameters, weights frozen). */
  train?: TrainScopeMode;
  /** Memory the run may use (default half the machine's memory): decides 'auto' (train-scope.ts). */
  memoryBudgetBytes?: number;
  /** Called once what is trained is decided, before the first step. */
  onScope?: (scope: TrainedScope) => void;
  /**
   * The optimizer in a session of its own, updating the state JavaScript holds in place (split-optimizer.ts), one step
   * per run. Default: from SEPARATE_OPTIMIZER_VALUES trained values (ViT-B/16: peak RSS see README "Scale").
   */
  separateOptimizer?: boolean;
  /** Fake-quantized MatMuls on frozen weights as one fused node (frozen-matmul.ts; default true, false for comparisons). */
  fuseFrozenMatMul?: boolean;
  /** Bytes of the weight row blocks a fused frozen MatMul quantizes at a time (default 64 MiB; small in tests). */
  frozenBlockBytes?: number;
  /** A ReLU6's (Clip's) gradient mask merged into the following activation fake quantization's (default true, false for comparisons). */
  fuseClipMask?: boolean;
  backend?: InferenceBackend;
}

/** Trained values from which the step session runs without ONNX Runtime's memory arena (see QatOptions.arena). */
export const ARENA_MAX_PARAMS = 50_000_000;

/** What a QAT run produces. */
export interface QatResult {
  /** The model with trained float weights (the input with opset >= 13 and BatchNormalization folded). */
  model: ModelProto;
  /** Fake-quant points with the learned (or calibrated) scales. */
  specs: FakeQuantSpec[];
  layers: PlanLayer[];
  log: TrainingLogEntry[];
  steps: number;
  /** The tensor used as logits. */
  logits: string;
  /** Samples per step and per forward/backward pass (the step accumulates batch / microBatch passes). */
  batch: number;
  microBatch: number;
  /** What was trained (everything, or the quantization parameters with the weights frozen) and why. */
  trained: TrainedScope;
  /** The peak learning rate used (given, or defaultLearningRate). */
  lr: number;
}

/**
 * The default peak learning rate (Adam, cosine): 1e-6 when every fake-quantized weight has 8 bits or more, else 1e-5.
 * Adam moves each weight by about the learning rate per step whatever its gradient, so near a good post-training
 * point a large rate drifts away from it. Measured (20 steps, batch 8, 16 synthetic samples, distillation; output SQNR
 * against float, plain PTQ in brackets): int8 resnet18 1e-4: 15.9 dB, 1e-5: 37.9, 1e-6: 45.2 (PTQ 41.3); int8
 * mobilenet_v2 1e-4: 22.8, 1e-5: 40.4, 1e-6: 41.7 (PTQ 37.4); int4 resnet18 1e-4: 14.5, 1e-5: 23.6, 1e-6: 17.8 (PTQ 18.1).
 */
export function defaultLearningRate(specs: readonly Pick<FakeQuantSpec, 'role' | 'bits'>[]): number {
  const bits = specs.filter((s) => s.role === 'weight').map((s) => s.bits);
  return bits.length && Math.min(...bits) >= 8 ? 1e-6 : 1e-5;
}

/** Fine-tunes (or trains, with recipe null) a model. */
export async function runQat(o: QatOptions): Promise<QatResult> {
  const file = o.file ?? '<model>';
  const backend = o.backend ?? ortBackend();
  const threads = o.threads ?? 1;
  // Opset raised to 13+ and BatchNormalization folded (no-ops when already so).
  o = { ...o, model: prepareForTraining(o.model, file) };
  const graph = new Graph(o.model, file);
  const samples = checkSamples(o.data, graph.inputs, file);
  const N = sampleCount(samples);
  const seed = o.seed ?? 0;
  const logits = logitsTensor(graph);
  const { batch: B, micro, probe } = await planBatches(o, graph, samples, backend, file);
  const logitDims = probe.shapes.get(logits)!;
  const classes = logitDims[logitDims.length - 1];
  /** Values per sample of the trained output, and whether it is [batch, classes] (accuracy and agreement apply). */
  const width = sizeOf(logitDims.slice(1));
  const classifier = logitDims.length === 2;
  if (o.data.labels) {
    if (o.data.labels.length !== N) throw new QuantLensError('train-labels', `${o.data.labels.length} labels for ${N} samples`, file);
    if (logitDims.length !== 2) throw new QuantLensError('train-labels', `labels need a [batch, classes] output, but '${logits}' has shape [${logitDims.join(', ')}]`, file);
    const bad = o.data.labels.find((l) => !(l >= 0 && l < classes));
    if (bad !== undefined) throw new QuantLensError('train-labels', `label ${bad} does not match the model output, which has ${classes} classes`, file);
  }
  const lossSpec: LossSpec = {
    crossEntropy: o.loss?.crossEntropy ?? (o.data.labels ? 1 : 0),
    distill: o.loss?.distill ?? (o.data.labels ? 0 : 1),
    distillKind: o.loss?.distillKind ?? 'kl',
    temperature: o.loss?.temperature ?? 1,
  };
  if (lossSpec.crossEntropy > 0 && !o.data.labels) throw new QuantLensError('train-labels', 'cross-entropy needs labels', file);
  // Top-1 of the FP32 model on the evaluation data (for agreement).
  let evalTeacher: Int32Array | undefined;
  const evalSamples = o.evaluation ? checkSamples(o.evaluation.data, graph.inputs, file) : undefined;
  if (evalSamples) evalTeacher = await predict(o.model, evalSamples, undefined, { backend, threads, fetch: logits });
  // Plan and initial scales.
  const { specs, layers } = o.recipe ? planFromRecipe(graph, o.recipe, o.learnScales ?? true, file) : { specs: [], layers: [] };
  const peakLr = o.lr ?? defaultLearningRate(specs);
  // Frozen weights stay initializers of the step graph (external data stays a reference ONNX Runtime reads).
  const { params, frozen, scope } = chooseTrainScope(graph, trainableTensors(graph), { mode: o.train, budgetBytes: o.memoryBudgetBytes, optimizer: o.optimizer?.kind ?? 'adam', learnedScales: specs.filter((s) => s.learnScale).length });
  o.onScope?.(scope);
  // FP32 teacher outputs (for distillation and agreement), computed once: the calibration's runs give the calibration
  // samples' (ViT-B/16 replica, 16 samples, 8 of them calibrating: 0.9 s less to the first step; all of them with the
  // default 512 calibration samples), a plain session the others'
  const wantTeacher = Boolean(o.recipe) || lossSpec.distill > 0;
  const calibrated = specs.length ? await calibrate(o, graph, specs, samples, backend, threads, probe.shapes, micro, wantTeacher ? logits : undefined) : undefined;
  let teacher = calibrated?.samples === N ? calibrated.values : undefined;
  if (wantTeacher && !teacher) {
    const s = await createProtoSession(backend, withOutput(o.model, logits), { threads });
    try { teacher = await runBatches(s, samples, logits, fixedBatch(graph.inputs, file) ?? B, calibrated); } finally { await s.release(); }
  }
  if (o.recipe) applyRecipeScales(o.recipe, layers, specs, file);
  const trainedValues = params.reduce((n, p) => n + sizeOf(probe.shapes.get(p)!), 0);
  const separate = o.separateOptimizer ?? trainedValues >= SEPARATE_OPTIMIZER_VALUES;
  const optSpec = o.optimizer ?? { kind: 'adam' };
  const step = buildTrainStep({ model: o.model, probe, params, fakeQuant: specs, loss: lossSpec, logits, optimizer: optSpec, microBatches: B / micro, fuseFrozenMatMul: o.fuseFrozenMatMul, frozenBlockBytes: o.frozenBlockBytes, fuseClipMask: o.fuseClipMask, separateOptimizer: separate, file });
  // Frozen weights were read (scale initialisation) and are now ONNX Runtime's alone: free JavaScript's copies first.
  if (frozen.length) collectGarbage();
  const perRun = frozen.length || separate ? 1 : Math.max(1, o.stepsPerRun ?? 8);
  const loop = perRun > 1 ? loopTrainStep(step) : undefined;
  const session = await createProtoSession(backend, loop ? loop.model : step.model, { threads, config: step.sessionConfig, arena: o.arena ?? trainedValues < ARENA_MAX_PARAMS, memoryPattern: false });
  const optimizer = step.gradients ? await SplitOptimizer.create(backend, threads, optSpec, step.gradients) : undefined;
  // State.
  const values = new Map<string, Float32Array>();
  for (const p of params) values.set(p, constFloat(graph, p).slice());
  for (const s of optimizer?.state ?? step.state.map((name) => ({ name, dims: step.shapes.get(name)! }))) values.set(s.name, new Float32Array(sizeOf(s.dims)));
  specs.forEach((s, k) => values.set(step.scales[k], s.scale.slice()));
  const stepsPerEpoch = Math.floor(N / B);
  const total = o.steps ?? Math.max(1, Math.round((o.epochs ?? 1) * stepsPerEpoch));
  let done = 0;
  const log: TrainingLogEntry[] = [];
  const ck = o.checkpointPath ? loadCheckpoint(o.checkpointPath) : undefined;
  if (ck) {
    for (const [k, v] of ck.tensors) {
      const cur = values.get(k);
      if (!cur || cur.length !== v.length) throw new QuantLensError('checkpoint-mismatch', `the checkpoint does not match this model and recipe (tensor '${k}')`, o.checkpointPath);
      values.set(k, v);
    }
    done = ck.step;
    log.push(...ck.log);
  }
  const save = () => {
    if (o.checkpointPath) saveCheckpoint(o.checkpointPath, { step: done, seed, tensors: values, log });
  };
  const schedule = o.schedule ?? { kind: 'constant' };
  const optKind = o.optimizer?.kind ?? 'adam';
  const b1 = o.optimizer?.beta1 ?? 0.9, b2 = o.optimizer?.beta2 ?? 0.999;
  const every = o.progressEvery ?? 20;
  const K = perRun;
  let perm = new Rng(seed).permutation(N);
  let permEpoch = -1;
  let acc = { loss: 0, n: 0, correct: 0, agree: 0, samples: 0 };
  let t0 = Date.now();
  const started = Date.now();
  const startStep = done;
  try {
    while (done < total) {
      if (o.signal?.aborted) { save(); throw new QuantLensError('cancelled', `QAT cancelled at step ${done}`, file); }
      const m = Math.min(K, total - done, (Math.floor(done / every) + 1) * every - done);
      // Per-step inputs of the next m steps.
      const stepFeeds: Record<string, Tensor>[] = [];
      const idxs: Int32Array[] = [];
      const lrs: number[] = [];
      for (let j = 0; j < m; j++) {
        const t = done + j;
        const epoch = Math.floor(t / stepsPerEpoch);
        if (epoch !== permEpoch) { perm = new Rng(seed * 1000003 + epoch + 1).permutation(N); permEpoch = epoch; }
        const off = (t % stepsPerEpoch) * B;
        const idx = perm.slice(off, off + B);
        const feeds: Record<string, Tensor> = {};
        graph.inputs.forEach((inp, i) => { feeds[step.dataInputs[i]] = gatherRows(samples[inp.name], idx); });
        if (step.labels) {
          const onehot = new Float32Array(B * classes);
          for (let i = 0; i < B; i++) onehot[i * classes + o.data.labels![idx[i]]] = 1;
          feeds[step.labels] = { type: DataType.FLOAT, dims: [B, classes], data: onehot };
        }
        if (step.teacher) {
          const td = new Float32Array(B * width);
          for (let i = 0; i < B; i++) td.set(teacher!.subarray(idx[i] * width, (idx[i] + 1) * width), i * width);
          feeds[step.teacher] = { type: DataType.FLOAT, dims: [B, ...logitDims.slice(1)], data: td };
        }
        const lr = learningRate(peakLr, schedule, t, total);
        if (!optimizer) feeds[OPT_INPUTS.lr] = scalar(lr);
        if (!optimizer && optKind !== 'sgd') { feeds[OPT_INPUTS.bc1] = scalar(1 - b1 ** (t + 1)); feeds[OPT_INPUTS.bc2] = scalar(1 - b2 ** (t + 1)); }
        stepFeeds.push(feeds);
        idxs.push(idx);
        lrs.push(lr);
      }
      const tensorOf = (name: string): Tensor => ({ type: DataType.FLOAT, dims: step.shapes.get(name)!, data: values.get(name)! });
      let losses: Float32Array, logitsAll: Float32Array, gradNorm: number;
      const updated = new Map<string, Float32Array>();
      let gradients: Record<string, Tensor> | undefined;
      if (!loop) {
        const feeds = { ...stepFeeds[0] };
        for (const name of [...step.params, ...step.state, ...step.scales]) feeds[name] = tensorOf(name);
        for (const c of step.scaleCopies) feeds[c.input] = tensorOf(c.of);
        const r = await session.run(feeds);
        losses = r[step.loss].data as Float32Array;
        logitsAll = r[step.logits].data as Float32Array;
        gradNorm = (r[step.gradNorm].data as Float32Array)[0];
        if (optimizer) gradients = r;
        else {
          step.params.forEach((p, i) => updated.set(p, r[step.newParams[i]].data as Float32Array));
          step.state.forEach((p, i) => updated.set(p, r[step.newState[i]].data as Float32Array));
          step.scales.forEach((sc, i) => { const n = step.newScales[i]; if (n) updated.set(sc, r[n].data as Float32Array); });
        }
      } else {
        const feeds: Record<string, Tensor> = { [loop.trips]: { type: DataType.INT64, dims: [], data: BigInt64Array.of(BigInt(m)) } };
        for (const p of loop.perStep) {
          const first = stepFeeds[0][p.name];
          const size = first.data.length;
          const data = new (first.data.constructor as { new (n: number): TensorArray })(m * size);
          for (let j = 0; j < m; j++) (data as Float32Array).set(stepFeeds[j][p.name].data as Float32Array, j * size);
          feeds[p.seq] = { type: first.type, dims: [m, ...first.dims], data };
        }
        for (const c of loop.carried) feeds[c.init] = tensorOf(c.name);
        for (const sc of step.scales) if (!loop.carried.some((c) => c.name === sc)) feeds[sc] = tensorOf(sc);
        const r = await session.run(feeds);
        losses = r[loop.losses].data as Float32Array;
        logitsAll = r[loop.logits].data as Float32Array;
        const norms = r[loop.gradNorms].data as Float32Array;
        gradNorm = norms[norms.length - 1];
        for (const c of loop.carried) updated.set(c.name, r[c.final].data as Float32Array);
      }
      const bad = Array.from(losses).findIndex((l) => !Number.isFinite(l));
      if (bad >= 0) {
        throw new QuantLensError('train-diverged', `the training loss became ${losses[bad]} at step ${done + bad + 1} (learning rate ${lrs[bad]}); lower the learning rate${o.checkpointPath ? '; the last good checkpoint is kept' : ''}`, file);
      }
      for (const [k, v] of updated) values.set(k, v);
      if (optimizer) {
        await optimizer.update(values, gradients!, gradNorm, { lr: lrs[0], bc1: 1 - b1 ** (done + 1), bc2: 1 - b2 ** (done + 1) });
        gradients = undefined;
        // the gradients' JavaScript copies (weight-sized) are garbage now: free them before the next run allocates
        collectGarbage();
      }
      for (let j = 0; j < m; j++) {
        acc.loss += losses[j]; acc.n++; acc.samples += B;
        if (!classifier) continue;
        const pred = argmaxRows(logitsAll.subarray(j * B * classes, (j + 1) * B * classes), classes);
        for (let i = 0; i < B; i++) {
          if (o.data.labels && pred[i] === o.data.labels[idxs[j][i]]) acc.correct++;
          if (teacher && pred[i] === argmaxRows(teacher.subarray(idxs[j][i] * classes, (idxs[j][i] + 1) * classes), classes)[0]) acc.agree++;
        }
      }
      done += m;
      if (done % every === 0 || done === total) {
        const now = Date.now();
        const sps = (acc.samples * 1000) / Math.max(1, now - t0);
        const elapsed = (now - started) / 1000;
        const entry: TrainingLogEntry = {
          step: done, totalSteps: total, epoch: done / stepsPerEpoch, loss: acc.loss / acc.n, lr: lrs[m - 1],
          accuracy: o.data.labels ? acc.correct / acc.samples : undefined,
          agreement: teacher && classifier ? acc.agree / acc.samples : undefined,
          gradNorm, samplesPerSec: sps, etaSeconds: ((total - done) * elapsed) / Math.max(1, done - startStep),
        };
        if (o.evaluation && classifier && (done % (o.evaluation.every ?? stepsPerEpoch) === 0 || done === total)) {
          entry.eval = await evaluateNow(o.model, { ...o.evaluation.data, inputs: evalSamples }, values, params, specs, step.scales, evalTeacher, backend, threads);
        }
        log.push(entry);
        o.onProgress?.(entry);
        acc = { loss: 0, n: 0, correct: 0, agree: 0, samples: 0 };
        t0 = now;
        if (!o.checkpointEvery || done % o.checkpointEvery === 0) save();
      }
    }
    save();
  } finally {
    await session.release();
    await optimizer?.release();
  }
  specs.forEach((s, k) => { s.scale = values.get(step.scales[k])!.slice(); });
  const trained = new Map(params.map((p) => [p, values.get(p)!]));
  return { model: withParams(o.model, trained), specs, layers, log, steps: done, logits, batch: B, microBatch: micro, trained: scope, lr: peakLr };
}

/** Scales the recipe fixes (`scales`, e.g. learned by an earlier QAT run) replace the calibrated ones. */
function applyRecipeScales(recipe: Pick<Recipe, 'defaults' | 'layers'>, layers: PlanLayer[], specs: FakeQuantSpec[], file: string): void {
  for (const l of layers) {
    const entry = recipe.layers?.[l.name];
    const given = entry && entry !== 'float' ? entry.scales : undefined;
    if (!given) continue;
    for (const k of [l.weight, ...l.activations]) {
      if (k === undefined || given[specs[k].tensor] === undefined) continue;
      const v = given[specs[k].tensor];
      const list = typeof v === 'number' ? [v] : v;
      if (list.length !== specs[k].scale.length || !list.every((x) => typeof x === 'number' && x > 0 && Number.isFinite(x))) {
        throw new QuantLensError('recipe-scales', `layer '${l.name}': scales of '${specs[k].tensor}' must be ${specs[k].scale.length} positive number(s)`, file);
      }
      specs[k].scale = Float32Array.from(list);
    }
  }
}

/** Accuracy and agreement of the simulated model with the current weights and scales. */
async function evaluateNow(model: ModelProto, data: QatData, values: Map<string, Float32Array>, params: string[], specs: FakeQuantSpec[], scaleNames: string[], teacher: Int32Array | undefined, backend: InferenceBackend, threads: number): Promise<{ accuracy?: number; agreement?: number }> {
  const current = withParams(model, new Map(params.map((p) => [p, values.get(p)!])));
  const now = specs.map((s, k) => ({ ...s, scale: values.get(scaleNames[k])! }));
  const pred = await predict(current, data.inputs!, now.length ? now : undefined, { backend, threads, fetch: logitsTensor(new Graph(model)) });
  return {
    accuracy: data.labels ? accuracy(pred, data.labels) : undefined,
    agreement: teacher ? accuracy(pred, teacher) : undefined,
  };
}

function scalar(v: number): Tensor {
  return { type: DataType.FLOAT, dims: [], data: Float32Array.of(v) };
}
