/** `quantlens quantize <model.onnx> [--recipe r.qrecipe.json] (--data <dir> | --synthetic) -o out.onnx`: calibrate and export QDQ. */
import * as path from 'path';
import { Command, InvalidArgumentError } from 'commander';
import { ErrorAccumulator, formatSqnr } from '../../core/analysis/metrics';
import { collectRanges, rangeSpecsFromPlan } from '../../core/data/collect-ranges';
import { openDataSource } from '../../core/data/open';
import { DataBatch, DataSource } from '../../core/data/source';
import { QuantLensError } from '../../core/errors';
import { foldConstants } from '../../core/onnx/constant-fold';
import { buildInventoryAsync } from '../../core/onnx/inventory';
import { checkOutputFile, writeOutputFile } from '../../core/output-file';
import { assertFiniteRanges, assertFiniteWeights, assertRunnablePlan } from '../../core/quant-checks';
import { DataType, encodeModelProto, ModelProto } from '../../core/onnx/proto';
import { inferShapes } from '../../core/onnx/shapes';
import { Tensor, toFloat32 } from '../../core/onnx/tensor-data';
import { buildPlan } from '../../core/quant/plan';
import { algorithmsFromRecipe, LayerRepair, needsRepair, rangeModel, repairPlan, underdetermined } from '../../core/quant/algorithms';
import { QUANT_ALGORITHMS } from '../../shared/recipe';
import { exportQdq } from '../../core/quant/qdq-export';
import { fidelityMessages, fusedLossWarning } from '../../core/quant/ort-fidelity';
import { InferenceBackend, RuntimeSession } from '../../core/runtime/backend';
import { createModelSession } from '../../core/runtime/fed-weights';
import { ortBackend } from '../../core/runtime/ort-backend';
import { DataDescription, describeData } from '../../shared/data';
import { Recipe } from '../../shared/recipe';
import { CliIO, EXIT_CODES_HELP, formatBytes } from '../context';
import { addDataOptions, DataFlags, dataFromFlags, positiveInt } from '../data-options';
import { loadModelForCli, readRecipeFile, recipeDataPath } from '../model-input';
import { createProgress } from '../progress';

/** Real data calibrates on at most this many samples unless --samples or the recipe says otherwise. */
export const MAX_DEFAULT_SAMPLES = 512;

/** Options of quantizeModel. */
export interface QuantizeOptions extends DataFlags {
  output: string;
  recipe?: string;
  batchSize?: number;
  threads?: number;
  /** Samples for the float-vs-quantized check (0 skips it). Default 4. */
  checkSamples?: number;
  /** Keep DequantizeLinear + MatMul for weight-only blocked MatMul/Gemm layers instead of com.microsoft MatMulNBits. */
  keepDq?: boolean;
  /** Weight rounding algorithm for every layer the recipe does not set one for (overrides the recipe's default). */
  algorithm?: string;
}

/** What a quantize run produced. */
export interface QuantizeResult {
  output: string;
  sizeBefore: number;
  sizeAfter: number;
  data: DataDescription;
  quantizedLayers: number;
  calibratedTensors: number;
  /** Outputs whose SQNR is undefined (null in JSON) and why. */
  outputSqnrUndefined?: Record<string, string>;
  /** SQNR (dB) of each model output, quantized against float, on the check samples (NaN, null in JSON, when undefined). */
  outputSqnrDb: Record<string, number>;
  /** Top-1 agreement (0..1) of classification outputs ([N, classes]) on the check samples. */
  top1Agreement: Record<string, number>;
  /** Top-1 accuracy of float and quantized model on the check samples, when the data has labels. */
  accuracy?: Record<string, { float: number; quantized: number }>;
  checkSamples: number;
  /** SQNR (dB) of each output with ONNX Runtime's graph optimizations disabled (the exact Q/DQ arithmetic, as simulated). */
  exactSqnrDb: Record<string, number>;
  /** Where ONNX Runtime will not run the model as simulated (predicted for this CPU, or measured), one sentence each. */
  warnings: string[];
  /** Per layer, what the repair algorithm did (only when some layer uses one other than rtn). */
  repair?: LayerRepair[];
}

/** Calibrates `file` on the data and writes the QDQ model to `options.output` (atomically, after checking it runs). */
export async function quantizeModel(file: string, options: QuantizeOptions, io?: CliIO, backend: InferenceBackend = ortBackend()): Promise<QuantizeResult> {
  checkOutputFile(options.output, 'output');
  const { model, graph, fileSize } = loadModelForCli(file);
  const recipe: Recipe = options.recipe ? readRecipeFile(options.recipe) : { version: 1, model: file, defaults: {}, layers: {} };
  const flags = dataFromFlags(options);
  const spec = flags.spec ?? (options.recipe ? recipeDataPath(options.recipe, recipe) : undefined);
  if (!spec) throw new QuantLensError('usage-no-data', 'calibration needs data: give --data <folder> or --synthetic (or a recipe with "data")');
  const synthetic = typeof spec !== 'string';
  const data = openDataSource(spec, graph.inputs, { ...flags.options, samples: options.samples ?? recipe.samples ?? (synthetic ? undefined : MAX_DEFAULT_SAMPLES) });
  if (io) io.err(`Data: ${describeData(data.description)}`);

  const threads = options.threads ?? 1;
  const shapes = await inferShapes(model, backend, undefined, { threads: 1, file });
  const layers = await buildInventoryAsync(graph, backend, { shapes, stats: false });
  let plan = buildPlan(layers, recipe, options.recipe);
  assertRunnablePlan(plan, layers, options.recipe ?? file);
  const algorithms = algorithmsFromRecipe(layers, recipe, options.algorithm, options.recipe);
  const warnings = fidelityMessages(plan, { layers, graph, shapes });
  const derived = plan.filter((l) => l.weight).map((l) => l.weight!.tensor).filter((t) => !graph.constantValue(t));
  const weightValues = derived.length ? await foldConstants(graph, backend, derived) : undefined;
  assertFiniteWeights(graph, plan.filter((p) => p.weight).map((p) => ({ node: p.node, tensor: p.weight!.tensor })), file, weightValues);

  let repaired = model;
  let repair: LayerRepair[] | undefined;
  if (needsRepair(algorithms)) {
    let last = '';
    const r = await repairPlan({ model, layers, plan, algorithms, data, backend, seed: 1, file,
      onProgress: (msg) => { const head = msg.split(':')[0]; if (io && head !== last) { io.err(`Repair: ${msg}`); last = head; } } });
    repaired = r.model;
    plan = r.plan;
    repair = r.layers;
  }

  const specs = rangeSpecsFromPlan(plan);
  const progress = io ? createProgress('Calibrating', data.samples, io.progressStream) : undefined;
  const ranges = await collectRanges(rangeModel(model, repaired, algorithms), [...specs.keys()], specs, data, backend, (d) => progress?.update(d), { batchSize: options.batchSize, threads, file });
  progress?.finish(`${specs.size} activation tensors`);
  assertFiniteRanges(ranges, plan, file);

  const quantized = exportQdq(repaired, plan, ranges, { file, weightValues, matMulNBits: !options.keepDq });
  const bytes = encodeModelProto(quantized);
  const check = await compareOutputs(model, bytes, data, options.checkSamples ?? 4, backend, threads, true).catch((e: unknown) => {
    // a load failure ORT's rewrites are known to cause (4-bit Conv inputs): the recipe's fault, said with the reason
    const msg = e instanceof Error ? e.message : String(e);
    if (/cannot load the exported QDQ model/.test(msg) && warnings.some((w) => /fails to load/.test(w))) throw new QuantLensError('export-ort-load', `${msg}\n${warnings.join('\n')}`, options.recipe ?? file);
    throw e;
  });
  const sizeAfter = writeOutputFile(options.output, bytes, 'output');
  const exactSqnrDb = check.exactSqnr ?? {};
  for (const [name, db] of Object.entries(check.sqnr)) {
    const w = fusedLossWarning(`output '${name}'`, db, exactSqnrDb[name]);
    if (w) warnings.push(w);
  }
  return {
    output: options.output, sizeBefore: fileSize, sizeAfter, data: data.description,
    quantizedLayers: plan.length, calibratedTensors: specs.size, outputSqnrDb: check.sqnr, top1Agreement: check.top1Agreement, accuracy: check.accuracy, checkSamples: check.samples,
    exactSqnrDb, warnings, repair, ...(check.sqnrUndefined && Object.keys(check.sqnrUndefined).length ? { outputSqnrUndefined: check.sqnrUndefined } : {}),
  };
}

/** Float vs quantized outputs on the check samples. */
export interface OutputCheck {
  /** SQNR (dB) per float output (the quantized model run with ONNX Runtime's full graph optimizations). */
  sqnr: Record<string, number>;
  /** Outputs whose SQNR is undefined (NaN; null in JSON), with the reason (e.g. `reference output is all zero`). */
  sqnrUndefined?: Record<string, string>;
  /** With `exact`: SQNR (dB) per float output of the quantized model with graph optimizations disabled. */
  exactSqnr?: Record<string, number>;
  /** Share of samples (0..1) whose arg-max agrees, per output of shape [N, classes]. */
  top1Agreement: Record<string, number>;
  /** With labelled data: top-1 accuracy (0..1) of the float and the quantized model, per output of shape [N, classes]. */
  accuracy?: Record<string, { float: number; quantized: number }>;
  samples: number;
}

/**
 * Runs the float and the quantized model (full graph optimizations, as deployed) on the first `samples` samples:
 * each output's SQNR (dB) and top-1 agreement; with `exact`, also the quantized model without graph optimizations.
 */
export async function compareOutputs(model: ModelProto, quantized: Uint8Array, data: DataSource, samples: number, backend: InferenceBackend, threads = 1, exact = false): Promise<OutputCheck> {
  if (samples <= 0) return { sqnr: {}, top1Agreement: {}, samples: 0 };
  const batches: DataBatch[] = [];
  for await (const batch of data.batches(Math.min(samples, 8))) {
    batches.push(batch);
    if (batches.reduce((n, b) => n + (Object.values(b.feeds)[0]?.dims[0] ?? 1), 0) >= samples) break;
  }
  // One session at a time: a big model never has its float and quantized copies loaded together; the float model's
  // MatMul/Gemm weights are fed from its own buffers (not encoded into a second copy that ONNX Runtime copies again)
  const runAll = async (open: () => Promise<RuntimeSession>, quantizedModel: boolean) => {
    let s;
    try {
      s = await open();
    } catch (e) {
      if (!quantizedModel) throw e;
      throw new Error(`ONNX Runtime cannot load the exported QDQ model: ${e instanceof Error ? e.message : e}`);
    }
    try {
      const outs: Record<string, Tensor>[] = [];
      for (const b of batches) outs.push(await s.run(b.feeds));
      return outs;
    } finally {
      await s.release();
    }
  };
  const floatOuts = await runAll(() => createModelSession(backend, model, { threads }), false);
  const qOuts = await runAll(() => backend.createSession(quantized, { threads, optimization: 'all' }), true);
  const qxOuts = exact ? await runAll(() => backend.createSession(quantized, { threads, optimization: 'disabled' }), true) : undefined;
  const acc = new Map<string, ErrorAccumulator>();
  const accExact = new Map<string, ErrorAccumulator>();
  const agree = new Map<string, number>();
  const correct = new Map<string, { float: number; quantized: number }>();
  let seen = 0;
  for (const [bi, batch] of batches.entries()) {
    const a = floatOuts[bi];
    const b = qOuts[bi];
    const bx = qxOuts?.[bi];
    for (const [name, t] of Object.entries(a)) {
      if (!b[name] || !isFloat(t)) continue;
      let e = acc.get(name);
      if (!e) acc.set(name, (e = new ErrorAccumulator()));
      const [fa, fb] = [toFloat32(t), toFloat32(b[name])];
      e.add(fa, fb);
      if (bx?.[name]) {
        let ex = accExact.get(name);
        if (!ex) accExact.set(name, (ex = new ErrorAccumulator()));
        ex.add(fa, toFloat32(bx[name]));
      }
      if (t.dims.length === 2 && t.dims[1] > 1) {
        const c = t.dims[1];
        let same = 0;
        const hits = correct.get(name) ?? { float: 0, quantized: 0 };
        for (let r = 0; r < t.dims[0]; r++) {
          const [ka, kb] = [argmax(fa, r * c, c), argmax(fb, r * c, c)];
          if (ka === kb) same++;
          if (batch.labels) { hits.float += +(ka === batch.labels[r]); hits.quantized += +(kb === batch.labels[r]); }
        }
        agree.set(name, (agree.get(name) ?? 0) + same);
        if (batch.labels) correct.set(name, hits);
      }
    }
    seen += Object.values(batch.feeds)[0]?.dims[0] ?? 1;
  }
  const db = (m: Map<string, ErrorAccumulator>) => Object.fromEntries([...m].map(([k, e]) => [k, Math.round(e.sqnrDb() * 100) / 100]));
  return {
    sqnr: db(acc),
    sqnrUndefined: Object.fromEntries([...acc].flatMap(([k, e]) => { const why = e.undefinedReason(); return why ? [[k, why]] : []; })),
    exactSqnr: qxOuts ? db(accExact) : undefined,
    top1Agreement: Object.fromEntries([...agree].map(([k, n]) => [k, n / seen])),
    accuracy: correct.size ? Object.fromEntries([...correct].map(([k, h]) => [k, { float: h.float / seen, quantized: h.quantized / seen }])) : undefined,
    samples: seen,
  };
}

function argmax(v: Float32Array, start: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (v[start + i] > v[start + best]) best = i;
  return best;
}

function isFloat(t: Tensor): boolean {
  return t.data instanceof Float32Array || t.data instanceof Float64Array || t.type === DataType.FLOAT16;
}

function exactNote(exact: number | undefined, fused: number): string {
  if (exact === undefined || !Number.isFinite(fused) || Number.isNaN(exact) || Math.abs(exact - fused) < 0.5) return '';
  return `; ${exact === Infinity ? 'inf' : exact.toFixed(2)} dB with the exact Q/DQ arithmetic (ONNX Runtime optimizations off)`;
}

/** Registers `quantize`. */
export function registerQuantize(program: Command, io: CliIO): void {
  const cmd = program
    .command('quantize')
    .description('calibrate activation ranges on data and export a QDQ ONNX model (default without a recipe: int8 per-channel weights, uint8 activations, min-max)')
    .argument('<model>', 'the float .onnx model')
    .requiredOption('-o, --output <file>', 'where to write the quantized model (written atomically)')
    .option('--recipe <file>', 'a *.qrecipe.json with default and per-layer formats')
    .option('--algorithm <name>', `weight rounding for layers without their own "algorithm" in the recipe: ${QUANT_ALGORITHMS.join(', ')} (default: the recipe's, else rtn)`)
    .option('--keep-dq', 'weight-only blocked MatMul/Gemm layers (e.g. int4/block:128 weights, float activations) keep DequantizeLinear + MatMul instead of com.microsoft MatMulNBits')
    .option('--batch-size <n>', 'samples per calibration run (default 8)', positiveInt)
    .option('--threads <n>', 'ONNX Runtime intra-op threads (default 1)', positiveInt)
    .option('--check-samples <n>', 'samples for the float-vs-quantized output check (default 4; 0 skips it)', (v) => { const n = Number(v); if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number'); return n; })
    .option('--json', 'print the result (paths, sizes, data description, output SQNR) as JSON');
  addDataOptions(cmd);
  cmd.addHelpText('after', `
Data: exactly one of --data or --synthetic (or a recipe whose "data" names a folder). Calibration uses
all samples, at most --samples (default: the recipe's "samples", else 512; synthetic: 16). Folders of .npy files: each file one sample or a batch on axis 0, read
in natural name order; several model inputs: one subfolder per input name.

Prints the output path, the size before and after, and the SQNR (dB) of each model output of the
quantized model against the float one on the first samples (higher is better; 30+ dB is usually fine),
measured as ONNX Runtime runs it (full graph optimizations: fused integer kernels). Warnings (stderr, and
"warnings" in --json) say where ONNX Runtime on this CPU will not run the model as simulated, e.g. int8
weights with 8-bit activations on x86 CPUs without VNNI (use int7/per-channel weights there).

Repair (--algorithm or "algorithm" in the recipe): adaround, gptq, bias-correction, equalize and awq choose
the weights' integer codes (or rescale weights) from the calibration data, without labels; each layer's output
SQNR on the calibration data before and after is printed. rtn is plain rounding.

Example:
  quantlens quantize model.onnx --data calib/ --algorithm adaround -o model.int4.onnx
  quantlens quantize model.onnx --data calib/ --samples 128 -o model.int8.onnx
  quantlens quantize model.onnx --recipe model.qrecipe.json --synthetic -o model.q.onnx
${EXIT_CODES_HELP}`);
  cmd.action(async (file: string, opts: QuantizeOptions & { json?: boolean }) => {
    if (opts.data && opts.synthetic) cmd.error('error: give either --data or --synthetic, not both', { exitCode: 2 });
    if (!opts.data && !opts.synthetic && !opts.recipe) cmd.error('error: calibration needs data: give --data <folder> or --synthetic', { exitCode: 2 });
    const r = await quantizeModel(file, opts, io);
    const warn = () => { for (const w of r.warnings) io.err(`Warning: ${w}`); };
    if (opts.json) { warn(); io.out(JSON.stringify({ ...r, output: path.resolve(r.output) }, null, 2)); return; }
    io.out(`Wrote ${path.resolve(r.output)}`);
    io.out(`Size: ${formatBytes(r.sizeBefore)} -> ${formatBytes(r.sizeAfter)} (${(r.sizeAfter / r.sizeBefore * 100).toFixed(1)}%)`);
    const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
    io.out(`Quantized ${plural(r.quantizedLayers, 'layer')}, ${plural(r.calibratedTensors, 'activation tensor')} calibrated on ${plural(r.data.samples, `${r.data.synthetic ? 'synthetic' : 'real'} sample`)}`);
    for (const [name, db] of Object.entries(r.outputSqnrDb)) {
      const top1 = r.top1Agreement[name];
      const acc = r.accuracy?.[name];
      const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
      io.out(`Output SQNR ${name}: ${formatSqnr(db, r.outputSqnrUndefined?.[name])}${top1 !== undefined ? `, top-1 agreement ${pct(top1)}` : ''}${acc ? `, accuracy ${pct(acc.float)} float -> ${pct(acc.quantized)} quantized` : ''} (quantized vs float, ${r.checkSamples} samples)${exactNote(r.exactSqnrDb[name], db)}`);
    }
    for (const l of r.repair ?? []) {
      const gain = l.sqnrDb !== undefined && l.rtnSqnrDb !== undefined ? `: layer output SQNR ${l.rtnSqnrDb.toFixed(2)} dB rounded to nearest -> ${l.sqnrDb.toFixed(2)} dB` : '';
      io.out(`Repair ${l.layer}: ${l.applied === l.algorithm ? l.algorithm : `${l.algorithm} not applied (rtn)`}${gain}${l.note ? ` (${l.note})` : ''}${underdetermined(l) ? ` (fitted on ${l.rows} calibration rows for ${l.inputs} inputs: the gain may not hold on other data; calibrate on more samples)` : ''}`);
    }
    warn();
  });
}
