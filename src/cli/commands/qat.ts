/** `quantlens qat <model> --recipe r.qrecipe.json --data ... [--labels ...] --epochs N -o out.onnx`: quantization-aware fine-tuning and QDQ export. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { openDataSource } from '../../core/data/open';
import { QuantLensError } from '../../core/errors';
import { writeFileAtomic } from '../../core/onnx/model-file';
import { checkOutputFile, writeOutputFile } from '../../core/output-file';
import { encodeModelProto, ModelProto } from '../../core/onnx/proto';
import { ortBackend } from '../../core/runtime/ort-backend';
import { collectGarbage } from '../../core/gc';
import { exportQatModel, prepareForTraining, qatPlan, recipeWithScales, trainedFormats } from '../../core/train/export';
import { fixedBatch, readAllSamples } from '../../core/train/batches';
import { versusPtq, versusPtqMessage } from '../../core/train/versus-ptq';
import { describeData } from '../../shared/data';
import { compareOutputs, OutputCheck, quantizeModel } from './quantize';
import { fidelityMessages } from '../../core/quant/ort-fidelity';
import { QatResult, runQat } from '../../core/train/qat';
import { DataSource } from '../../core/data';
import { Recipe } from '../../shared/recipe';
import { QatVersusPtq, TrainedFormat, TrainedScope, TrainingLog, TrainScopeMode } from '../../shared/training';
import { defaultTrainingBudget, trainedScopeMessage } from '../../core/train/train-scope';
import { CliIO, EXIT_CODES_HELP } from '../context';
import { addDataOptions, DataFlags, dataFromFlags, positiveInt, schemaNumber } from '../data-options';
import { BatchSizeSchema, EpochsSchema, LearningRateSchema, StepsSchema } from '../../shared/request-params';
import { checkSamplesFitMemory } from '../../core/work-limits';
import { loadModelForCli, readRecipeFile, recipeDataPath } from '../model-input';
import { createProgress } from '../progress';

/** Options of the qat command. */
export interface QatCliOptions extends DataFlags {
  output: string;
  recipe?: string;
  epochs?: number;
  steps?: number;
  lr?: number;
  optimizer?: 'adam' | 'adamw' | 'sgd';
  batchSize?: number;
  distill?: 'kl' | 'mse';
  temperature?: number;
  checkpoint?: string;
  threads?: number;
  /** What to train (default auto: by the memory budget). */
  train?: TrainScopeMode;
  /** Memory budget in MiB (default half the machine's memory): the samples held, and whether the weights can be trained. */
  memory?: number;
}

/** What a qat run wrote. */
export interface QatCliResult {
  output: string;
  log: string;
  recipe: string;
  steps: number;
  firstLoss: number;
  lastLoss: number;
  samples: number;
  /** Where ONNX Runtime's optimized run of the export will differ from the simulation trained against. */
  warnings: string[];
  /** The exported model against plain PTQ of the same recipe (both against the float model, on the same samples). */
  versusPtq: QatVersusPtq;
  /** What was trained (everything, or the quantization parameters with the weights frozen) and why. */
  trained: TrainedScope;
}

/** Samples the exported model and PTQ are compared on (the first ones of the training data). */
export const CHECK_SAMPLES = 64;

/** Quantizes `file` with plain PTQ of the same recipe and data (into a temporary file) and compares it with the QAT export. */
async function ptqComparison(file: string, o: QatCliOptions, qat: OutputCheck, synthetic: boolean, formats: TrainedFormat[], samples: number): Promise<QatVersusPtq> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlens-ptq-'));
  try {
    const ptq = await quantizeModel(file, { ...o, output: path.join(dir, 'ptq.onnx'), checkSamples: samples });
    const name = Object.keys(qat.sqnr).find((k) => k in ptq.outputSqnrDb) ?? Object.keys(qat.sqnr)[0];
    return versusPtq(
      { sqnrDb: ptq.outputSqnrDb[name] ?? NaN, top1Agreement: ptq.top1Agreement[name] },
      { sqnrDb: qat.sqnr[name] ?? NaN, top1Agreement: qat.top1Agreement[name] },
      qat.samples, synthetic, formats,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const positiveNumber = (v: string) => { const n = Number(v); if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError('expected a positive number'); return n; };


/** Fine-tunes `file` with the recipe's formats and writes the QDQ model, the recipe with learned scales and the training log. */
export async function qatModel(file: string, o: QatCliOptions, io?: CliIO, signal?: AbortSignal): Promise<QatCliResult> {
  // The float and the trained model live in trainAndExport alone: both (ViT-B/16: 2 x 330 MB) are gone before the PTQ
  // run loads the model again, whose peak was the qat command's second highest (4.03 GiB RSS with them held).
  const { r, recipe, check, checkN, synthetic, count } = await trainAndExport(file, o, io, signal);
  collectGarbage(); // the weights the training and the export read, before the PTQ run reads them again
  const versus = await ptqComparison(file, o, check, synthetic, trainedFormats(recipe, r.layers), checkN);
  const base = o.output.replace(/\.onnx$/i, '');
  const logFile = `${base}.training-log.json`;
  const recipeFile = `${base}.qrecipe.json`;
  const log: TrainingLog = { version: 1, model: path.resolve(file), seed: o.seed ?? 0, optimizer: o.optimizer ?? 'adam', entries: r.log, end: 'done', trained: r.trained };
  writeFileAtomic(logFile, JSON.stringify(log, null, 1));
  const out = recipeWithScales({ ...recipe, model: path.relative(path.dirname(path.resolve(recipeFile)), path.resolve(file)) }, r.layers, r.specs);
  writeFileAtomic(recipeFile, JSON.stringify(out, null, 2));
  if (o.checkpoint && fs.existsSync(o.checkpoint)) fs.unlinkSync(o.checkpoint);
  const warnings = fidelityMessages(qatPlan(r.layers, r.specs));
  return { versusPtq: versus, trained: r.trained, warnings, output: o.output, log: logFile, recipe: recipeFile, steps: r.steps, firstLoss: r.log[0]?.loss ?? NaN, lastLoss: r.log[r.log.length - 1]?.loss ?? NaN, samples: count };
}

/** What trainAndExport keeps for the rest of the command: the QAT result without its model, and the export's check. */
interface TrainedAndExported {
  r: Omit<QatResult, 'model'>;
  recipe: Recipe;
  check: OutputCheck;
  checkN: number;
  synthetic: boolean;
  count: number;
}

/** Loads the model and data, trains, exports, checks and writes the QDQ model; returns no model (see qatModel). */
async function trainAndExport(file: string, o: QatCliOptions, io: CliIO | undefined, signal: AbortSignal | undefined): Promise<TrainedAndExported> {
  const { model, graph } = loadModelForCli(file);
  const recipe: Recipe = o.recipe ? readRecipeFile(o.recipe) : { version: 1, model: path.basename(file), defaults: {}, layers: {} };
  const flags = dataFromFlags(o);
  const spec = flags.spec ?? (o.recipe ? recipeDataPath(o.recipe, recipe) : undefined);
  if (!spec) throw new QuantLensError('usage-no-data', 'QAT needs data: give --data <folder>, --data mnist or --synthetic (or a recipe with "data")');
  const source = openDataSource(spec, graph.inputs, { ...flags.options, samples: o.samples ?? recipe.samples });
  checkOutputFile(o.output, 'output');
  const budget = o.memory ? o.memory * 1024 * 1024 : defaultTrainingBudget();
  await checkSamplesFitMemory(source, budget, 'QAT');
  const { inputs, labels } = await readAllSamples(source);
  const count = source.samples;
  const hasLabels = !!labels;
  const distill = o.distill !== undefined || !hasLabels;
  const prepared = prepareForTraining(model, file);
  const total = o.steps ?? Math.max(1, Math.round((o.epochs ?? 1) * Math.floor(count / Math.min(o.batchSize ?? 32, count))));
  const progress = io ? createProgress('QAT', total, io.progressStream) : undefined;
  if (io) io.err(`Data: ${describeData(source.description)}; loss: ${hasLabels && !o.distill ? 'cross-entropy' : hasLabels ? 'cross-entropy + distillation' : 'distillation against the float model'}`);
  const { model: trained, ...r } = await runQat({
    model: prepared, file, recipe, data: { inputs, labels },
    batchSize: o.batchSize ?? 32, steps: total, lr: o.lr, schedule: { kind: 'cosine', minFactor: 0.05 },
    optimizer: { kind: o.optimizer ?? 'adam' },
    loss: distill ? { distill: 1, distillKind: o.distill ?? 'kl', temperature: o.temperature ?? 1, crossEntropy: hasLabels ? 1 : 0 } : undefined,
    seed: o.seed ?? 0, checkpointPath: o.checkpoint, signal, threads: o.threads ?? 1, train: o.train, memoryBudgetBytes: budget,
    onScope: (scope) => io?.err(trainedScopeMessage(scope)), progressEvery: Math.max(1, Math.min(20, Math.floor(total / 50))),
    onProgress: (p) => progress?.update(p.step, `loss ${p.loss.toFixed(4)}${p.accuracy !== undefined ? ` acc ${(100 * p.accuracy).toFixed(1)}%` : ''}${p.agreement !== undefined ? ` agree ${(100 * p.agreement).toFixed(1)}%` : ''}`),
  });
  progress?.finish();
  io?.err(`Learning rate: ${r.lr} peak, cosine schedule${o.lr === undefined ? ' (the default for these weight formats: 1e-6 at 8 bits or more, else 1e-5; --lr to change it)' : ''}`);
  const fixed = fixedBatch(graph.inputs, file);
  if (io && (r.microBatch < r.batch || fixed)) {
    const passes = r.microBatch < r.batch ? `, gradients accumulated over ${r.batch / r.microBatch} passes of ${r.microBatch}` : '';
    io.err(`Batch: ${r.batch} samples per step${passes}${fixed ? ` (the model's batch dim is fixed at ${fixed})` : ' (to keep the activations within the memory budget)'}`);
  }
  // The exported model against the float model (here) and against plain PTQ of the same recipe (qatModel), on the
  // same samples (compareOutputs also checks that ONNX Runtime loads the result before it is written). The model is
  // written before the PTQ run, so its bytes (hundreds of MB on a big model) are gone by then.
  const checkN = Math.min(count, CHECK_SAMPLES);
  const check = await exportChecked(model, trained, r, file, source, checkN, o);
  return { r, recipe, check, checkN, synthetic: source.description.synthetic, count };
}

/** Exports the trained model as QDQ, compares it with the float model (ONNX Runtime loading it) and writes it (with external data beside it when over 2 GiB). */
async function exportChecked(model: ModelProto, trained: ModelProto, r: Pick<QatResult, 'layers' | 'specs'>, file: string, source: DataSource, checkN: number, o: QatCliOptions): Promise<OutputCheck> {
  const bytes = encodeModelProto(exportQatModel(trained, r.layers, r.specs, file));
  const check = await compareOutputs(model, bytes, source, checkN, ortBackend(), o.threads ?? 1);
  writeOutputFile(o.output, bytes, 'output');
  return check;
}

/** Registers `qat`. */
export function registerQat(program: Command, io: CliIO): void {
  const cmd = program
    .command('qat')
    .description('quantization-aware fine-tuning with the recipe\'s formats (fake quantization, learned scales), then QDQ export')
    .argument('<model>', 'the float .onnx model')
    .requiredOption('-o, --output <file>', 'where to write the QDQ model (also writes <name>.qrecipe.json with learned scales and <name>.training-log.json)')
    .option('--recipe <file>', 'a *.qrecipe.json with default and per-layer formats (default: int8 per-channel weights, uint8 activations)')
    .option('--epochs <n>', 'passes over the data (default 1)', schemaNumber(EpochsSchema))
    .option('--steps <n>', 'optimizer steps (overrides --epochs)', schemaNumber(StepsSchema))
    .option('--lr <x>', 'peak learning rate, cosine schedule (default 1e-6 when every quantized weight has 8 bits or more, else 1e-5)', schemaNumber(LearningRateSchema))
    .addOption(new Option('--optimizer <name>', 'optimizer (default adam)').choices(['adam', 'adamw', 'sgd']))
    .option('--batch-size <n>', 'samples per step (default 32)', schemaNumber(BatchSizeSchema))
    .addOption(new Option('--distill <kind>', 'distil against the float model (default when the data has no labels: kl)').choices(['kl', 'mse']))
    .option('--temperature <t>', 'softmax temperature of KL distillation (default 1)', positiveNumber)
    .option('--checkpoint <file>', 'checkpoint file: written during training, resumed from when it exists, removed at the end')
    .option('--threads <n>', 'ONNX Runtime intra-op threads (default 1)', positiveInt)
    .addOption(new Option('--train <what>', 'what to train: auto (everything when it fits the memory budget, else the quantization scales, biases and norms with the weights frozen), all, quant-params (default auto)').choices(['auto', 'all', 'quant-params']))
    .option('--memory <MiB>', 'memory budget in MiB for the samples held and for training the weights (default half the machine\'s memory)', positiveInt);
  addDataOptions(cmd);
  cmd.addHelpText('after', `
With labels (MNIST, or labels.npy beside .npy data) the loss is cross-entropy; without, distillation against
the float model's outputs. Ctrl-C stops after the current step (with --checkpoint, a later run resumes).

Example:
  quantlens qat model.onnx --recipe model.qrecipe.json --data mnist --samples 2000 --epochs 2 -o model.qat.onnx
${EXIT_CODES_HELP}`);
  cmd.action(async (file: string, opts: QatCliOptions) => {
    if (opts.data && opts.synthetic) cmd.error('error: give either --data or --synthetic, not both', { exitCode: 2 });
    const ac = new AbortController();
    const onInt = () => ac.abort();
    process.once('SIGINT', onInt);
    try {
      const r = await qatModel(file, opts, io, ac.signal);
      io.out(`Wrote ${path.resolve(r.output)}`);
      io.out(`Trained ${r.steps} steps on ${r.samples} samples: loss ${r.firstLoss.toFixed(4)} -> ${r.lastLoss.toFixed(4)}`);
      io.out(trainedScopeMessage(r.trained));
      io.out(`Learned scales: ${path.resolve(r.recipe)}`);
      io.out(`Training log: ${path.resolve(r.log)}`);
      for (const w of r.warnings) io.err(`Note: ${w}`);
      const line = versusPtqMessage(r.versusPtq);
      if (r.versusPtq.qatWorse) io.err(`Warning: ${line}`); else io.out(`Compared: ${line}`);
    } finally {
      process.removeListener('SIGINT', onInt);
    }
  });
}
