/** The quantize step shared by export and evaluate: plan, calibrate (ranges cached per model and data), QDQ model, ORT session. */
import { collectRanges, RangeSpec, rangeSpecsFromPlan } from '../../core/data/collect-ranges';
import type { DataSource } from '../../core/data';
import { foldConstants } from '../../core/onnx/constant-fold';
import { encodeModelProto } from '../../core/onnx/proto';
import { buildPlan } from '../../core/quant/plan';
import { exportQdq, QuantPlan, RangeMap } from '../../core/quant/qdq-export';
import { fidelityMessages } from '../../core/quant/ort-fidelity';
import type { RuntimeSession } from '../../core/runtime/backend';
import { formatToString } from '../../shared/formats';
import type { DataSpec } from '../../shared/protocol';
import type { LoadedModel } from '../context';
import type { Engine } from '../engine';
import type { Job } from '../jobs';
import { openJobData, ResolvedRecipe } from './job-inputs';
import { JOB_BATCH_SIZE } from './measure';

/** A quantized model in memory, loaded in ONNX Runtime. */
export interface QuantizedModel {
  plan: QuantPlan;
  bytes: Uint8Array;
  session: RuntimeSession;
  data: DataSource;
  /** Where ONNX Runtime on this CPU is predicted not to run the model as simulated (fidelityMessages), one sentence each. */
  warnings: string[];
}

/** Calibrated ranges already computed for a model, keyed by data, tensor, calibration and format. */
type RangeCache = Map<string, { min: number; max: number }>;

function rangeKey(dataKey: string, tensor: string, s: RangeSpec): string {
  return `${dataKey}|${tensor}|${JSON.stringify(s.calibration)}|${formatToString(s.format)}`;
}

/** Ranges of the plan's activations: reused from earlier jobs on the same data, the rest calibrated now. */
async function planRanges(engine: Engine, job: Job, m: LoadedModel, plan: QuantPlan, data: DataSource, dataKey: string, from: number, to: number): Promise<RangeMap> {
  const specs = rangeSpecsFromPlan(plan);
  const cache = engine.cache.getItem<RangeCache>(m.path, 'ranges') ?? new Map();
  const ranges: RangeMap = new Map();
  const todo = new Map<string, RangeSpec>();
  for (const [t, s] of specs) {
    const hit = cache.get(rangeKey(dataKey, t, s));
    if (hit) ranges.set(t, hit);
    else todo.set(t, s);
  }
  if (todo.size) {
    job.enter(`calibrating ${todo.size} activation${todo.size > 1 ? 's' : ''}`, from);
    const fresh = await collectRanges(m.model, [...todo.keys()], todo, data, engine.backend,
      (done, total) => job.progress(`calibrating: ${done}/${total} samples`, from + ((to - from) * done) / Math.max(1, total)),
      { batchSize: JOB_BATCH_SIZE, threads: engine.threads, cancelled: () => job.cancelled, file: m.path });
    for (const [t, r] of fresh) {
      ranges.set(t, r);
      cache.set(rangeKey(dataKey, t, todo.get(t)!), r);
    }
    await engine.cache.setItem(m.path, 'ranges', { value: cache, bytes: cache.size * 200 });
  }
  return ranges;
}

/** Applies a recipe to a loaded model: plan, ranges, QDQ bytes, and a session ORT created from them (caller releases it). */
export async function quantizeForJob(engine: Engine, job: Job, m: LoadedModel, rr: ResolvedRecipe, dataSpec: DataSpec | undefined, split: 'train' | 'test' = 'test', defaultSamples?: number): Promise<QuantizedModel> {
  job.enter('planning from the recipe', 2);
  const plan = buildPlan(m.inventory, rr.recipe, rr.file);
  const data = openJobData(dataSpec, m.graph.inputs, rr, defaultSamples, split);
  const dataKey = JSON.stringify([dataSpec ?? null, rr.recipe.data ?? null, rr.recipe.samples ?? null, split, defaultSamples ?? null]);
  const ranges = await planRanges(engine, job, m, plan, data, dataKey, 5, 55);
  job.throwIfCancelled();

  job.enter('writing the QDQ graph', 55);
  const byName = new Map(m.inventory.map((l) => [l.name, l]));
  const derived = plan.filter((p) => p.weight && byName.get(p.node)?.weight?.source === 'derived').map((p) => p.weight!.tensor);
  const weightValues = derived.length ? await foldConstants(m.graph, engine.backend, derived) : undefined;
  const bytes = encodeModelProto(exportQdq(m.model, plan, ranges, { weightValues, file: m.path }));
  job.throwIfCancelled();

  job.enter('loading the quantized model in ONNX Runtime', 65);
  const session = await engine.backend.createSession(bytes, { threads: engine.threads, optimization: 'all' });
  return { plan, bytes, session, data, warnings: fidelityMessages(plan, { layers: m.inventory, graph: m.graph, shapes: engine.modelExtras(m.path).shapes }) };
}
