/**
 * The one schema of every engine request's params and of recipe objects (zod: validated at runtime, TypeScript types
 * inferred from it). The engine answers params that fail it with InvalidParams naming the field; the CLI checks its
 * option values and recipe files with the same schemas.
 */
import { z } from 'zod';
import { parseAlgorithm, parseCalibration, QUANT_ALGORITHMS } from './recipe';
import { parseFormat } from './formats';

/** Most samples a job may ask for (the data folder's own count is the other limit); more is refused, not capped silently. */
export const MAX_SAMPLES = 100_000;
/** Most QAT steps or epochs a request may ask for. */
export const MAX_STEPS = 10_000_000;
/** Largest QAT batch size. */
export const MAX_BATCH_SIZE = 65_536;
/** Deepest nesting a recipe (file or inline object) may have; real recipes use 4 levels. */
export const MAX_RECIPE_DEPTH = 32;
/** Longest path accepted in params (Linux PATH_MAX). */
const MAX_PATH = 4096;

/** A file or folder path: a non-empty string without NUL bytes. */
export const PathSchema = z.string({ error: (i) => `expected a file path (a string), got ${typeName(i.input)}` })
  .min(1, 'must not be empty')
  .max(MAX_PATH, `is longer than ${MAX_PATH} characters`)
  .refine((s) => !s.includes('\0'), 'must not contain a NUL character');

/** A sample count: an integer from 1 to MAX_SAMPLES. */
export const SampleCountSchema = intIn(1, MAX_SAMPLES, 'samples');

/** QAT's numbers, shared by `quant/qat` and `quantlens qat`. */
export const StepsSchema = intIn(1, MAX_STEPS, 'steps');
/** Passes over the data. */
export const EpochsSchema = z.number({ error: (i) => `expected the epochs (a number), got ${typeName(i.input)}` }).finite('must be finite').positive('the epochs must be positive').max(MAX_STEPS, `the epochs must be at most ${MAX_STEPS.toLocaleString('en-US')}`);
/** Samples per training step. */
export const BatchSizeSchema = intIn(1, MAX_BATCH_SIZE, 'batch size');
/** The learning rate. */
export const LearningRateSchema = z.number({ error: (i) => `expected a learning rate (a number), got ${typeName(i.input)}` }).finite('must be finite').positive('the learning rate must be positive').max(10, 'the learning rate must be at most 10');

/** A number format such as `int8/per-channel` (parsed by src/shared/formats.ts). */
export const FormatSchema = z.string({ error: (i) => `expected a format string such as "int8/per-channel", got ${typeName(i.input)}` })
  .superRefine((s, ctx) => { const p = parseFormat(s); if (!p.ok) ctx.addIssue({ code: 'custom', message: p.error }); });

/** A calibration method such as `percentile:99.99`. */
export const CalibrationSchema = z.string({ error: (i) => `expected a calibration string such as "minmax", got ${typeName(i.input)}` })
  .superRefine((s, ctx) => { const p = parseCalibration(s); if (!p.ok) ctx.addIssue({ code: 'custom', message: p.error }); });

const positiveFinite = z.number({ error: (i) => `expected a positive number, got ${typeName(i.input)}` }).finite().positive('must be positive');

/** One layer's settings in a recipe (unknown fields are errors, as docs/recipe.md says). */
export const LayerSpecSchema = z.strictObject({
  weights: FormatSchema.optional(),
  activations: FormatSchema.optional()
    .refine((s) => { if (s === undefined) return true; const p = parseFormat(s); return !p.ok || p.format.kind !== 'int' || p.format.granularity.kind === 'tensor'; },
      'activations are quantized per tensor: per-channel or block granularity is not supported'),
  calibration: CalibrationSchema.optional(),
  algorithm: z.string({ error: (i) => `expected an algorithm name such as "adaround", got ${typeName(i.input)}` })
    .superRefine((s, ctx) => { if (!parseAlgorithm(s)) ctx.addIssue({ code: 'custom', message: `unknown algorithm '${s}': expected one of ${QUANT_ALGORITHMS.join(', ')}` }); }).optional(),
  scales: z.record(z.string(), z.union([positiveFinite, z.array(positiveFinite).min(1, 'must hold at least one scale')],
    { error: (i) => `expected a positive number or an array of them, got ${typeName(i.input)}` })).optional(),
}, { error: (i) => (i.code === 'unrecognized_keys' ? undefined : `expected an object, got ${typeName(i.input)}`) });

/** A recipe object (file contents or inline in a request); `version` and `model` may be left out inline. */
export const RecipeSchema = z.strictObject({
  $schema: z.string({ error: (i) => `expected the schema's address (a string), got ${typeName(i.input)}` }).optional(),
  version: z.literal(1, { error: (i) => `recipe version ${JSON.stringify(i.input)} is not supported (this QuantLens reads version 1)` }).optional(),
  model: z.string({ error: (i) => `expected the model path (a string), got ${typeName(i.input)}` }).optional(),
  data: PathSchema.optional(),
  samples: SampleCountSchema.optional(),
  defaults: LayerSpecSchema.optional(),
  layers: z.record(z.string(), z.union([z.literal('float'), LayerSpecSchema],
    { error: (i) => `expected "float" or a layer spec object, got ${typeName(i.input)}` }),
  { error: (i) => `expected an object keyed by node name, got ${typeName(i.input)}` }).optional(),
  notes: z.string({ error: (i) => `expected text, got ${typeName(i.input)}` }).optional(),
}, { error: (i) => (i.code === 'unrecognized_keys' ? undefined : `a recipe must be a JSON object, got ${typeName(i.input)}`) });

/** Where a job's data comes from (see DataSpec in protocol.ts). */
export const DataSpecSchema = z.strictObject({
  folder: PathSchema.optional(),
  labels: PathSchema.optional(),
  builtin: z.literal('mnist', { error: (i) => `the only built-in data set is "mnist", got ${JSON.stringify(i.input) ?? typeName(i.input)}` }).optional(),
  samples: SampleCountSchema.optional(),
}, { error: (i) => (i.code === 'unrecognized_keys' ? undefined : `expected an object, got ${typeName(i.input)}`) });

/** A recipe param: a recipe file path or an inline recipe object. */
const RecipeParamSchema = z.union([PathSchema, RecipeSchema], {
  error: (i) => `expected a recipe file path or a recipe object, got ${typeName(i.input)}`,
});

/** A recommendation target. */
export const TargetSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('min-sqnr-db'), value: targetValue() }),
  z.strictObject({ kind: z.literal('max-accuracy-drop'), value: targetValue().min(0, 'must be from 0 to 1').max(1, 'must be from 0 to 1') }),
  z.strictObject({ kind: z.literal('max-size-bytes'), value: targetValue().positive('must be positive') }),
], { error: (i) => (i.code === 'invalid_union' ? 'kind must be "min-sqnr-db", "max-accuracy-drop" or "max-size-bytes"' : `expected a target object, got ${typeName(i.input)}`) });

/** LSP's progress tokens (work done, partial results). */
const tokenSchema = z.union([z.string(), z.number()]).optional();
const progress = { workDoneToken: tokenSchema, partialResultToken: tokenSchema };
const paramsObject = <T extends z.ZodRawShape>(shape: T) =>
  z.object(shape, { error: (i) => `the params must be an object, got ${typeName(i.input)}` });

/** The params of each request of src/shared/protocol.ts, by method name. */
export const RequestParamsSchemas = {
  'quant/inspect': paramsObject({ model: PathSchema }),
  'quant/graph': paramsObject({ model: PathSchema }),
  'quant/closeModel': paramsObject({ model: PathSchema }),
  'quant/cancelJob': paramsObject({ id: z.string() }),
  'quant/analyze': paramsObject({
    ...progress, model: PathSchema, recipe: RecipeParamSchema.optional(), data: DataSpecSchema.optional(),
    formats: z.array(z.string(), { error: (i) => `expected an array of format names, got ${typeName(i.input)}` }).max(64, 'at most 64 candidate formats').optional(),
    target: TargetSchema.optional(), reportPath: PathSchema.optional(), htmlPath: PathSchema.optional(), recipeOut: PathSchema.optional(),
    measure: z.enum(['all', 'decisive'], { error: (i) => `expected 'decisive' or 'all', got ${JSON.stringify(i.input)}` }).optional(),
    allButOne: z.boolean({ error: (i) => `expected true or false, got ${typeName(i.input)}` }).optional(),
    screeningSamples: z.number({ error: (i) => `expected a number of samples, got ${typeName(i.input)}` }).int('expected a whole number of samples').positive('expected at least 1 sample').optional(),
    executionProviders: z.array(z.string(), { error: (i) => `expected an array of execution provider names, got ${typeName(i.input)}` }).max(8).optional(),
  }),
  'quant/evaluate': paramsObject({ ...progress, model: PathSchema, recipe: RecipeParamSchema, data: DataSpecSchema.optional() }),
  'quant/recommend': paramsObject({ ...progress, model: PathSchema, target: TargetSchema, base: z.string().optional(), higher: z.string().optional(), data: DataSpecSchema.optional() }),
  'quant/qat': paramsObject({
    ...progress, model: PathSchema, recipe: RecipeParamSchema.optional(), data: DataSpecSchema.optional(),
    epochs: EpochsSchema.optional(), steps: StepsSchema.optional(), lr: LearningRateSchema.optional(), batchSize: BatchSizeSchema.optional(),
    seed: z.number({ error: (i) => `expected an integer seed, got ${typeName(i.input)}` }).int().optional(),
    output: PathSchema,
    train: z.enum(['auto', 'all', 'quant-params'], { error: (i) => `expected 'auto', 'all' or 'quant-params', got ${JSON.stringify(i.input)}` }).optional(),
  }),
  'quant/export': paramsObject({ ...progress, model: PathSchema, recipe: RecipeParamSchema.optional(), data: DataSpecSchema.optional(), output: PathSchema }),
  'quant/compare': paramsObject({ ...progress, float: PathSchema, quantized: PathSchema, data: DataSpecSchema.optional() }),
} as const;

/** A method whose params the schema checks. */
export type ValidatedMethod = keyof typeof RequestParamsSchemas;
/** The params of a method as the schema accepts them. */
export type RequestParamsOf<M extends ValidatedMethod> = z.infer<(typeof RequestParamsSchemas)[M]>;

/** Why params were refused: the field (dotted path, `params` for the whole) and the problem. */
export interface ParamsProblem { field: string; message: string }

/** Checks `value` against `schema`; the first problem names the field under `root`. */
export function checkAgainst<T>(schema: z.ZodType<T>, value: unknown, root = 'params'): { ok: true; value: T } | ({ ok: false } & ParamsProblem) {
  const depth = nestingDepth(value, MAX_RECIPE_DEPTH * 2);
  if (depth > MAX_RECIPE_DEPTH * 2) return { ok: false, field: root, message: `nests objects or arrays more than ${MAX_RECIPE_DEPTH * 2} levels deep (the depth limit is ${MAX_RECIPE_DEPTH * 2})` };
  const r = schema.safeParse(value);
  if (r.success) return { ok: true, value: r.data };
  const issue = mostSpecific(r.error.issues[0]);
  const field = [root, ...issue.path.map(String)].filter((s) => s !== '').join('.').replace(/^params\./, '');
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') message = `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
  else if (issue.code === 'invalid_type' && valueAt(value, issue.path) === undefined) message = 'is required';
  return { ok: false, field, message };
}

/** Within a union's failure, the problem of the branch that got furthest (the one the value was meant for). */
function mostSpecific(issue: z.core.$ZodIssue): z.core.$ZodIssue {
  if (issue.code !== 'invalid_union' || !issue.errors?.length) return issue;
  let best: z.core.$ZodIssue | undefined;
  for (const branch of issue.errors) {
    const first = branch[0] && mostSpecific(branch[0]);
    if (!first) continue;
    const rel = first.path.length;
    const deeper = rel > 0 || (first.code !== 'invalid_type' && first.code !== 'invalid_value');
    if (deeper && (!best || rel > best.path.length)) best = first;
  }
  return best ? { ...best, path: [...issue.path, ...best.path] } : issue;
}

function valueAt(value: unknown, p: readonly PropertyKey[]): unknown {
  let v = value;
  for (const k of p) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

/** Checks a request's params; on failure the message reads `<field>: <problem>`. */
export function checkRequestParams<M extends ValidatedMethod>(method: M, params: unknown): { ok: true; value: RequestParamsOf<M> } | ({ ok: false } & ParamsProblem) {
  return checkAgainst(RequestParamsSchemas[method] as unknown as z.ZodType<RequestParamsOf<M>>, params) as { ok: true; value: RequestParamsOf<M> } | ({ ok: false } & ParamsProblem);
}

/** How deep `value` nests objects and arrays, counting at most to `limit + 1` (iterative: no stack overflow). */
export function nestingDepth(value: unknown, limit: number): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (d + 1 > max) max = d + 1;
    if (max > limit) return max;
    for (const c of Array.isArray(v) ? v : Object.values(v)) stack.push([c, d + 1]);
  }
  return max;
}

/** The JSON type of a value, for messages (`a number`, `null`, `an array`...). */
export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : `a number (${v})`;
  if (typeof v === 'string') return v.length > 40 ? 'a string' : `a string (${JSON.stringify(v)})`;
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

function targetValue() {
  return z.number({ error: (i) => `expected the target value (a number), got ${typeName(i.input)}` }).finite('must be finite');
}

function intIn(min: number, max: number, what: string) {
  return z.number({ error: (i) => `expected the ${what} (${min >= 1 ? 'a positive integer' : 'an integer'}), got ${typeName(i.input)}` })
    .int(`the ${what} must be an integer`).min(min, `the ${what} must be at least ${min}`).max(max, `the ${what} must be at most ${max.toLocaleString('en-US')}`);
}
