/** `quant/export`: calibrate the recipe's activations and write a QDQ model that ONNX Runtime loads. */
import { collectRanges, rangeSpecsFromPlan } from '../../core/data/collect-ranges';
import { foldConstants } from '../../core/onnx/constant-fold';
import { writeFileAtomic } from '../../core/onnx/model-file';
import { encodeModelProto } from '../../core/onnx/proto';
import { buildPlan } from '../../core/quant/plan';
import { exportQdq } from '../../core/quant/qdq-export';
import { QuantLensError } from '../../core/errors';
import * as path from 'path';
import type { ExportParams, ExportResult } from '../../shared/protocol';
import type { Engine } from '../engine';
import type { Job } from '../jobs';
import { openJobData, resolveRecipe } from './job-inputs';
import { JOB_BATCH_SIZE, measureAgainstFloat } from './measure';

/** Builds the plan, calibrates, exports, checks ORT loads the result, measures it, then writes it atomically. */
export async function exportModel(engine: Engine, job: Job, params: ExportParams): Promise<ExportResult> {
  if (!params.output) throw new QuantLensError('export-no-output', 'no output file given');
  const output = path.resolve(params.output);
  const m = await engine.modelForJob(job, params.model);
  job.enter('reading the recipe', 2);
  const rr = resolveRecipe(params.recipe);
  const plan = buildPlan(m.inventory, rr.recipe, rr.file);
  const data = openJobData(params.data, m.graph.inputs, rr);

  job.enter('calibrating activations', 5);
  const specs = rangeSpecsFromPlan(plan);
  const ranges = await collectRanges(m.model, [...specs.keys()], specs, data, engine.backend,
    (done, total) => job.progress(`calibrating: ${done}/${total} samples`, 5 + (50 * done) / Math.max(1, total)),
    { batchSize: JOB_BATCH_SIZE, threads: engine.threads, cancelled: () => job.cancelled, file: m.path });
  job.throwIfCancelled();

  job.enter('writing the QDQ graph', 55);
  const byName = new Map(m.inventory.map((l) => [l.name, l]));
  const derived = plan.filter((p) => p.weight && byName.get(p.node)?.weight?.source === 'derived').map((p) => p.weight!.tensor);
  const weightValues = derived.length ? await foldConstants(m.graph, engine.backend, derived) : undefined;
  const qdq = exportQdq(m.model, plan, ranges, { weightValues, file: m.path });
  const bytes = encodeModelProto(qdq);
  job.throwIfCancelled();

  job.enter('loading the exported model in ONNX Runtime', 65);
  const session = await engine.backend.createSession(bytes, { threads: engine.threads });
  try {
    job.enter('measuring the exported model against the float model', 70);
    const metrics = await measureAgainstFloat(engine, job, m, session, data, 70, 98);
    job.throwIfCancelled();
    job.enter(`writing ${output}`, 99);
    writeFileAtomic(output, bytes);
    return { output, sizeBytes: bytes.byteLength, floatSizeBytes: m.fileBytes, metrics };
  } finally {
    await session.release();
  }
}
