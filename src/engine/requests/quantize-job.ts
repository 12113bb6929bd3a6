/** The quantize step shared by export and evaluate: plan, calibrate (ranges cached per model and data), QDQ model, ORT session. */
import { collectRanges, RangeSpec, rangeSpecsFromPlan } from '../../core/data/collect-ranges';
import type { DataSource } from '../../core/data';
import { foldConstants } from '../../core/onnx/constant-fold';
import { encodeModelProto, ModelProto } from '../../core/onnx/proto';
import { algorithmsFromRecipe, LayerRepair, migratesScales, needsRepair, rangeModel, repairPlan } from '../../core/quant/algorithms';
import { buildPlan } from '../../core/quant/plan';
import { assertFiniteRanges, assertFiniteWeights, assertRunnablePlan } from '../../core/quant-checks';
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
  /** What the recipe's repair algorithms did per layer (undefined when every layer is rounded to nearest). */
  repair?: LayerRepair[];
}

/** Calibrated ranges already computed for a model, keyed by data, tensor, calibration and format. */
type RangeCache = Map<string, { min: number; max: number }>;

function rangeKey(dataKey: string, tensor: string, s: RangeSpec): string {
  return `${dataKey}|${tensor}|${JSON.stringify(s.calibration)}|${formatToString(s.format)}`;
}

/** Ranges of the plan's activations: reused from earlier jobs on the same data, the rest calibrated now. */
async function planRanges(engine: Engine, job: Job, m: LoadedModel, plan: QuantPlan, data: DataSource, dataKey: string, from: number, to: number, model: ModelProto = m.model): Promise<RangeMap> {
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
    const fresh = await collectRanges(model, [...todo.keys()], todo, data, engine.backend,
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
  let plan = buildPlan(m.inventory, rr.recipe, rr.file);
  assertRunnablePlan(plan, m.inventory, rr.file ?? m.path);
  const planWeights = plan.filter((p) => p.weight).map((p) => ({ node: p.node, tensor: p.weight!.tensor }));
  assertFiniteWeights(m.graph, planWeights, m.path);
  const algorithms = algorithmsFromRecipe(m.inventory, rr.recipe, undefined, rr.file);
  const data = openJobData(dataSpec, m.graph.inputs, rr, defaultSamples, split);
  let dataKey = JSON.stringify([dataSpec ?? null, rr.recipe.data ?? null, rr.recipe.samples ?? null, split, defaultSamples ?? null]);
  let model = m.model;
  let repair: LayerRepair[] | undefined;
  if (needsRepair(algorithms)) {
    // repaired weights (equalization and AWQ change the float model, so its ranges are calibrated on it, under their own key)
    job.enter('repairing weights', 3);
    const r = await repairPlan({ model, layers: m.inventory, plan, algorithms, data, backend: engine.backend, seed: 1, cancelled: () => job.cancelled, file: m.path,
      onProgress: (msg, done, total) => job.progress(msg, 3 + (2 * done) / Math.max(1, total)) });
    model = r.model;
    plan = r.plan;
    repair = r.layers;
    if (migratesScales(algorithms)) dataKey += `|repaired:${JSON.stringify([...algorithms])}`;
  }
  const ranges = await planRanges(engine, job, m, plan, data, dataKey, 5, 55, rangeModel(m.model, model, algorithms));
  assertFiniteRanges(ranges, plan, m.path);
  job.throwIfCancelled();

  job.enter('writing the QDQ graph', 55);
  const byName = new Map(m.inventory.map((l) => [l.name, l]));
  const derived = plan.filter((p) => p.weight && byName.get(p.node)?.weight?.source === 'derived').map((p) => p.weight!.tensor);
  const weightValues = derived.length ? await foldConstants(m.graph, engine.backend, derived) : undefined;
  if (weightValues) assertFiniteWeights(m.graph, planWeights, m.path, weightValues);
  const bytes = encodeModelProto(exportQdq(model, plan, ranges, { weightValues, file: m.path, matMulNBits: true }));
  job.throwIfCancelled();

  job.enter('loading the quantized model in ONNX Runtime', 65);
  const session = await engine.backend.createSession(bytes, { threads: engine.threads, optimization: 'all' });
  return { plan, bytes, session, data, repair, warnings: fidelityMessages(plan, { layers: m.inventory, graph: m.graph, shapes: engine.modelExtras(m.path).shapes }) };
}
