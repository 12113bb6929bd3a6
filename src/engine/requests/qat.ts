/** `quant/qat`: fine-tune with fake quantization (live curve points as notifications), export QDQ with the learned scales. */
import * as path from 'path';
import type { Connection } from 'vscode-languageserver';
import { QuantLensError } from '../../core/errors';
import { writeFileAtomic } from '../../core/onnx/model-file';
import { checkOutputFile, writeOutputFile } from '../../core/output-file';
import { checkSamplesFitMemory } from '../../core/work-limits';
import { encodeModelProto } from '../../core/onnx/proto';
import { exportQatModel, prepareForTraining, recipeWithScales, trainedFormats } from '../../core/train/export';
import { versusPtq } from '../../core/train/versus-ptq';
import { runQat } from '../../core/train/qat';
import { readAllSamples } from '../../core/train/batches';
import { defaultTrainingBudget, trainedScopeMessage } from '../../core/train/train-scope';
import { QatProgressNotification } from '../../shared/protocol';
import type { QatParams, QatResult } from '../../shared/protocol';
import type { TrainingLog } from '../../shared/training';
import type { Engine } from '../engine';
import type { Job } from '../jobs';
import { openJobData, resolveRecipe } from './job-inputs';
import { measureAgainstFloat } from './measure';
import { quantizeForJob } from './quantize-job';

/** Samples QAT uses when the request does not say (synthetic data). */
export const QAT_DEFAULT_SAMPLES = 256;

/**
 * Measures the recipe's post-training quantization (before), trains, exports the QDQ model with the learned
 * scales, measures it (after) and writes the model, the recipe with the scales and the training log.
 */
export async function runQatJob(engine: Engine, connection: Connection, job: Job, params: QatParams): Promise<QatResult> {
  if (!params.output) throw new QuantLensError('qat-no-output', 'no output file given');
  const output = checkOutputFile(params.output, 'QAT output');
  const m = await engine.modelForJob(job, params.model);
  const rr = resolveRecipe(params.recipe);
  const spec = params.data ?? {};
  const data = openJobData(spec, m.graph.inputs, rr, QAT_DEFAULT_SAMPLES, 'train');
  await checkSamplesFitMemory(data, engine.cache.budget, 'QAT');

  // Before: post-training quantization of the same recipe (what export would write without training).
  const ptq = await quantizeForJob(engine, job, m, rr, spec, 'train', QAT_DEFAULT_SAMPLES);
  let before;
  try {
    job.enter('measuring post-training quantization', 8);
    before = await measureAgainstFloat(engine, job, m, ptq.session, ptq.data, 8, 10);
  } finally {
    await ptq.session.release();
  }

  job.enter('loading training samples', 10);
  const samples = await readAllSamples(data);
  job.enter('preparing the training graph', 12);
  const prepared = prepareForTraining(m.model, m.path);
  job.enter('training', 15);
  const result = await runQat({
    model: prepared, file: m.path, recipe: rr.recipe, data: samples,
    steps: params.steps, epochs: params.steps === undefined ? params.epochs ?? 1 : undefined,
    lr: params.lr, schedule: { kind: 'cosine', minFactor: 0.05 }, batchSize: params.batchSize ?? 32, seed: params.seed ?? 0,
    threads: engine.threads, backend: engine.backend, signal: job.signal, progressEvery: 10,
    train: params.train, memoryBudgetBytes: defaultTrainingBudget(),
    onScope: (scope) => job.enter(`training (${trainedScopeMessage(scope)})`, 15),
    onProgress: (p) => {
      job.progress(`step ${p.step}/${p.totalSteps}, loss ${p.loss.toPrecision(4)}`, 15 + (75 * p.step) / Math.max(1, p.totalSteps));
      void connection.sendNotification(QatProgressNotification, { ...p, jobId: job.info.id, model: m.path });
    },
  });
  job.throwIfCancelled();

  job.enter('exporting the trained QDQ model', 90);
  const bytes = encodeModelProto(exportQatModel(result.model, result.layers, result.specs, m.path));
  const session = await engine.backend.createSession(bytes, { threads: engine.threads });
  let after;
  try {
    job.enter('measuring the trained model against the float model', 92);
    after = await measureAgainstFloat(engine, job, m, session, ptq.data, 92, 98);
  } finally {
    await session.release();
  }
  job.throwIfCancelled();
  job.enter(`writing ${output}`, 99);
  const base = output.replace(/\.onnx$/i, '');
  const recipeFile = `${base}.qrecipe.json`;
  const logFile = `${base}.training-log.json`;
  const notes = `scales learned by QAT (${result.steps} steps); the trained weights are in ${path.basename(output)}`;
  const recipe = recipeWithScales({ ...rr.recipe, model: path.relative(path.dirname(recipeFile), m.path), notes }, result.layers, result.specs);
  const log: TrainingLog = { version: 1, model: m.path, seed: params.seed ?? 0, optimizer: 'adam', entries: result.log, end: 'done', trained: result.trained };
  writeOutputFile(output, bytes, 'output');
  writeFileAtomic(recipeFile, `${JSON.stringify(recipe, null, 2)}\n`);
  writeFileAtomic(logFile, `${JSON.stringify(log, null, 2)}\n`);
  const versus = versusPtq(before, after, ptq.data.samples, ptq.data.description.synthetic, trainedFormats(rr.recipe, result.layers));
  const curve = result.log.map((e) => ({ step: e.step, loss: e.loss, accuracy: e.accuracy, agreement: e.agreement }));
  return { output, recipe: recipeFile, log: logFile, before, after, steps: result.steps, versusPtq: versus, curve, trained: result.trained };
}
