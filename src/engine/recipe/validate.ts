/** Checks a parsed recipe against the schema, its model and the last analysis: issues with offsets, no LSP types. */
import { existsSync } from 'fs';
import * as path from 'path';
import { distance } from 'fastest-levenshtein';
import { Node, ParseErrorCode } from 'jsonc-parser';
import { formatToString, parseFormat } from '../../shared/formats';
import type { QuantLayer } from '../../core/onnx/layer';
import { effectiveLayerSpec, parseAlgorithm, parseCalibration, QUANT_ALGORITHMS, RECIPE_VERSION } from '../../shared/recipe';
import { REQUIRED_FIELDS, ROOT_FIELDS, SPEC_FIELDS } from './fields';
import { bitsOf, canonicalFormat, isolatedSqnr, RecipeModelIndex, ReportIndex, sensitivityVerdict, SensitivityVerdict } from './indexes';
import { lenientRecipe, objectEntries, PropertyEntry, RecipeDoc } from './parse';

/** Every kind of issue the checker reports (the diagnostic `code`). */
export type RecipeIssueCode =
  | 'json-syntax' | 'trailing-comma' | 'not-object' | 'unknown-field' | 'missing-field' | 'wrong-type' | 'duplicate-key'
  | 'unsupported-version' | 'model-not-found' | 'model-unreadable' | 'data-not-found'
  | 'invalid-format' | 'invalid-calibration' | 'invalid-algorithm' | 'activation-granularity'
  | 'unknown-layer' | 'not-quantizable' | 'layer-short-form'
  | 'qat-integer-only' | 'per-tensor-spread' | 'float-weights-int-activations' | 'no-weights' | 'block-size' | 'calibration-unused' | 'redundant-override'
  | 'unknown-scale-tensor' | 'sensitive-layer' | 'sensitive-defaults';

/** Data attached to an issue for quick fixes. */
export interface RecipeIssueData {
  /** The layer the issue is about. */
  layer?: string;
  /** Replacement names (closest layers or fields). */
  suggestions?: string[];
  /** A higher-precision setting for the layer (from the recommendation). */
  higher?: { weights: string; activations: string };
  /** Layers a defaults-level warning is about. */
  layers?: string[];
  /** A format to use instead (e.g. the per-channel variant of a per-tensor format). */
  replacement?: string;
}

/** One problem in a recipe, located by offsets into its text. */
export interface RecipeIssue {
  code: RecipeIssueCode;
  severity: 'error' | 'warning' | 'info' | 'hint';
  message: string;
  offset: number;
  length: number;
  /** Marks the text as unused (faded in the editor). */
  unnecessary?: boolean;
  data?: RecipeIssueData;
}

/** What the checker needs besides the text. */
export interface RecipeCheckInput {
  doc: RecipeDoc;
  /** Absolute path of the recipe file; undefined for unsaved documents (paths are then not checked). */
  recipePath?: string;
  /** The model's index, when it was loaded. */
  model?: RecipeModelIndex;
  /** Why the model could not be loaded (a QuantLensError message). */
  modelError?: string;
  /** The last analysis of the model. */
  report?: ReportIndex;
  /** File existence test (injectable for tests). */
  fileExists?: (absPath: string) => boolean;
}

/** The absolute path a recipe's relative path (model or data) points to. */
export function resolveRecipePath(recipePath: string, rel: string): string {
  return path.resolve(path.dirname(recipePath), rel);
}

const SYNTAX: Partial<Record<ParseErrorCode, string>> = {
  [ParseErrorCode.InvalidSymbol]: 'invalid symbol',
  [ParseErrorCode.InvalidNumberFormat]: 'invalid number',
  [ParseErrorCode.PropertyNameExpected]: 'property name expected',
  [ParseErrorCode.ValueExpected]: 'value expected',
  [ParseErrorCode.ColonExpected]: 'colon expected',
  [ParseErrorCode.CommaExpected]: 'comma expected',
  [ParseErrorCode.CloseBraceExpected]: 'closing brace expected',
  [ParseErrorCode.CloseBracketExpected]: 'closing bracket expected',
  [ParseErrorCode.EndOfFileExpected]: 'end of file expected',
  [ParseErrorCode.InvalidCommentToken]: 'invalid comment',
  [ParseErrorCode.UnexpectedEndOfString]: 'unterminated string',
};

const FLOATISH = new Set(['float', 'float16', 'bfloat16']);

/** Channel range spread (widest output channel's abs max over the median channel's) from which per-tensor weights are flagged. */
export const SPREAD_WARN = 10;

/** The problem with per-tensor integer weights on a layer whose channel ranges differ a lot, or undefined. */
export function perTensorSpread(layer: QuantLayer, weights: string): { spread: number; lossDb: number; replacement: string } | undefined {
  const f = parseFormat(weights);
  const spread = layer.weightStats?.channelRangeSpread;
  if (!f.ok || f.format.kind !== 'int' || f.format.granularity.kind !== 'tensor' || !layer.weight || !spread || spread < SPREAD_WARN) return undefined;
  return { spread, lossDb: 20 * Math.log10(spread), replacement: formatToString({ ...f.format, granularity: { kind: 'channel' } }) };
}

const spreadText = (name: string, p: { spread: number; lossDb: number }) => `${name} (spread ${p.spread.toFixed(1)}×, ~${p.lossDb.toFixed(0)} dB less SQNR on the median channel)`;

/** Unknown layers that get closest-name suggestions (each costs one edit distance per model layer). */
export const MAX_SUGGESTED_LAYERS = 200;

/** Checks a recipe: syntax, schema, paths, layers against the model, contradictions and sensitivity. */
export function checkRecipe(input: RecipeCheckInput): RecipeIssue[] {
  const { doc } = input;
  const issues: RecipeIssue[] = [];
  const add = (code: RecipeIssueCode, severity: RecipeIssue['severity'], message: string, node: { offset: number; length: number }, extra: Partial<RecipeIssue> = {}) =>
    issues.push({ code, severity, message, offset: node.offset, length: Math.max(1, node.length), ...extra });

  const commas = new Set<number>();
  for (const e of doc.syntaxErrors) {
    const trailing = (e.error === ParseErrorCode.PropertyNameExpected || e.error === ParseErrorCode.ValueExpected) && /,\s*$/.test(doc.text.slice(0, e.offset)) && /^[}\]]/.test(doc.text.slice(e.offset));
    if (trailing) {
      const comma = doc.text.lastIndexOf(',', e.offset);
      if (commas.has(comma)) continue;
      commas.add(comma);
      add('trailing-comma', 'warning', 'Trailing comma: QuantLens accepts it, strict JSON tools do not', { offset: comma, length: 1 });
    } else add('json-syntax', 'error', `JSON: ${SYNTAX[e.error] ?? 'syntax error'}`, e);
  }
  const root = doc.root;
  if (!root) {
    add('not-object', 'error', 'A recipe is a JSON object with version, model, defaults and layers', { offset: 0, length: 1 });
    return issues;
  }
  if (root.type !== 'object') {
    add('not-object', 'error', 'A recipe is a JSON object with version, model, defaults and layers', root);
    return issues;
  }

  checkKeys(doc.fields, ROOT_FIELDS, 'recipe', add);
  for (const f of REQUIRED_FIELDS) {
    if (!doc.field.has(f)) add('missing-field', 'error', `Missing required field '${f}'`, { offset: root.offset, length: 1 }, { data: { suggestions: [f] } });
  }

  const version = doc.field.get('version')?.valueNode;
  if (version) {
    if (version.type !== 'number' || !Number.isInteger(version.value)) add('wrong-type', 'error', `'version' must be an integer (${RECIPE_VERSION})`, version);
    else if (version.value !== RECIPE_VERSION) add('unsupported-version', 'error', `Recipe version ${version.value} is not supported: this QuantLens reads version ${RECIPE_VERSION}`, version);
  }
  const exists = input.fileExists ?? existsSync;
  const model = doc.field.get('model')?.valueNode;
  if (model) {
    if (model.type !== 'string' || !model.value) add('wrong-type', 'error', `'model' must be a non-empty string: the ONNX file, relative to the recipe's folder`, model);
    else if (input.recipePath) {
      const abs = resolveRecipePath(input.recipePath, model.value);
      if (!exists(abs)) add('model-not-found', 'error', `Model file '${model.value}' does not exist (looked for ${abs})`, model);
      else if (input.modelError) add('model-unreadable', 'error', `Model '${model.value}' cannot be read: ${input.modelError}`, model);
    } else if (input.modelError) add('model-unreadable', 'error', `Model '${model.value}' cannot be read: ${input.modelError}`, model);
  }
  const data = doc.field.get('data')?.valueNode;
  if (data) {
    if (data.type !== 'string' || !data.value) add('wrong-type', 'error', `'data' must be a non-empty string: a folder relative to the recipe's folder`, data);
    else if (input.recipePath && !exists(resolveRecipePath(input.recipePath, data.value))) {
      add('data-not-found', 'warning', `Data folder '${data.value}' does not exist (looked for ${resolveRecipePath(input.recipePath, data.value)})`, data);
    }
  }
  const samples = doc.field.get('samples')?.valueNode;
  if (samples && (samples.type !== 'number' || !Number.isInteger(samples.value) || samples.value < 1)) add('wrong-type', 'error', `'samples' must be a positive integer`, samples);
  for (const f of ['notes', '$schema']) {
    const v = doc.field.get(f)?.valueNode;
    if (v && v.type !== 'string') add('wrong-type', 'error', `'${f}' must be a string`, v);
  }

  const defaults = doc.field.get('defaults')?.valueNode;
  if (defaults) {
    if (defaults.type !== 'object') add('wrong-type', 'error', `'defaults' must be an object with weights, activations and calibration`, defaults);
    else checkSpec(defaults, undefined, input, add);
  }
  const layers = doc.field.get('layers')?.valueNode;
  if (layers && layers.type !== 'object') add('wrong-type', 'error', `'layers' must be an object keyed by ONNX node name`, layers);

  const seen = new Map<string, PropertyEntry[]>();
  for (const e of doc.layers) seen.set(e.key, [...(seen.get(e.key) ?? []), e]);
  for (const [name, entries] of seen) {
    if (entries.length < 2) continue;
    const kinds = entries.map((e) => (e.valueNode?.type === 'string' ? JSON.stringify(e.valueNode.value) : 'an object'));
    for (const e of entries.slice(0, -1)) {
      const contra = kinds.includes('"float"') && kinds.some((k) => k !== '"float"');
      add('duplicate-key', 'error', `Layer '${name}' is listed ${entries.length} times${contra ? ` (kept "float" and also given formats)` : ''}: only the last entry counts`, e.keyNode, { data: { layer: name } });
    }
  }

  const recipe = lenientRecipe(doc);
  const suggest = { left: MAX_SUGGESTED_LAYERS };
  for (const e of doc.layers) {
    const v = e.valueNode;
    if (!v) continue;
    if (v.type === 'string') {
      if (v.value !== 'float') {
        const f = parseFormat(v.value);
        add('layer-short-form', 'error', `A layer's short form can only be "float"${f.ok ? `; write { "weights": ${JSON.stringify(v.value)} }` : ''}`, v, { data: { layer: e.key } });
      }
    } else if (v.type === 'object') checkSpec(v, e.key, input, add);
    else add('wrong-type', 'error', `Layer '${e.key}' must be "float" or an object with weights, activations, calibration`, v);
    if (input.model) checkLayer(e, recipe, input, add, suggest);
  }
  if (input.model) checkDefaultsSpread(doc, recipe, input.model, add);
  if (input.model && input.report) checkDefaultsSensitivity(doc, recipe, input, add);
  return issues;
}

type Add = (code: RecipeIssueCode, severity: RecipeIssue['severity'], message: string, node: { offset: number; length: number }, extra?: Partial<RecipeIssue>) => void;

function checkKeys(entries: PropertyEntry[], allowed: readonly string[], where: string, add: Add): void {
  const count = new Map<string, number>();
  for (const e of entries) count.set(e.key, (count.get(e.key) ?? 0) + 1);
  const seen = new Map<string, number>();
  for (const e of entries) {
    if (!allowed.includes(e.key)) {
      const suggestions = allowed.filter((a) => distance(a, e.key.toLowerCase()) <= Math.max(2, Math.floor(a.length / 3)));
      add('unknown-field', 'error', `Unknown field '${e.key}' in ${where}${suggestions.length ? `: did you mean '${suggestions[0]}'?` : ` (expected ${allowed.join(', ')})`}`, e.keyNode, { data: { suggestions } });
      continue;
    }
    const n = (seen.get(e.key) ?? 0) + 1;
    seen.set(e.key, n);
    if (n < count.get(e.key)!) add('duplicate-key', 'error', `Field '${e.key}' appears ${count.get(e.key)} times in ${where}: only the last one counts`, e.keyNode);
  }
}

function checkSpec(obj: Node, layer: string | undefined, input: RecipeCheckInput, add: Add): void {
  const where = layer === undefined ? 'defaults' : `layer '${layer}'`;
  const entries = objectEntries(obj);
  checkKeys(entries, SPEC_FIELDS, where, add);
  for (const e of entries) {
    const v = e.valueNode;
    if (!v) continue;
    if (e.key === 'weights' || e.key === 'activations') {
      if (v.type !== 'string') { add('wrong-type', 'error', `'${e.key}' must be a format string such as int8/per-channel`, v); continue; }
      const f = parseFormat(v.value);
      if (!f.ok) { add('invalid-format', 'error', `Invalid ${e.key} format: ${f.error}`, v); continue; }
      if (f.format.kind === 'float16' || f.format.kind === 'bfloat16' || f.format.kind === 'float8') {
        add('qat-integer-only', 'info', `QAT simulates integer formats only: Run QAT rejects '${v.value}' ${e.key} (analysis and export support it)`, v);
      }
      if (e.key === 'activations' && f.format.kind === 'int' && f.format.granularity.kind !== 'tensor') {
        add('activation-granularity', 'error', `Activations are quantized per tensor: '${v.value}' asks for ${f.format.granularity.kind === 'block' ? 'blocks' : 'per-channel'} (weights only)`, v);
      }
    } else if (e.key === 'calibration') {
      if (v.type !== 'string') { add('wrong-type', 'error', `'calibration' must be a string: minmax, percentile:99.99, mse or entropy`, v); continue; }
      const c = parseCalibration(v.value);
      if (!c.ok) add('invalid-calibration', 'error', `Invalid calibration: ${c.error}`, v);
    } else if (e.key === 'algorithm') {
      if (v.type !== 'string' || !parseAlgorithm(v.value)) add('invalid-algorithm', 'error', `Unknown algorithm ${v.type === 'string' ? `'${v.value}'` : ''}: expected one of ${QUANT_ALGORITHMS.join(', ')}`, v);
    } else if (e.key === 'scales') {
      if (v.type !== 'object') { add('wrong-type', 'error', `'scales' must be an object: tensor name -> scale or per-channel scales`, v); continue; }
      for (const s of objectEntries(v)) {
        const sv = s.valueNode;
        const ok = sv && (sv.type === 'number' ? sv.value > 0 : sv.type === 'array' && (sv.children?.length ?? 0) > 0 && sv.children!.every((c) => c.type === 'number' && c.value > 0));
        if (sv && !ok) add('wrong-type', 'error', `Scale of '${s.key}' must be a positive number or a non-empty array of them`, sv);
        const g = input.model?.graph;
        if (g && !g.producer.has(s.key) && !g.initializers.has(s.key) && !g.valueInfo.has(s.key)) {
          add('unknown-scale-tensor', 'warning', `Tensor '${s.key}' is not in the model: this scale is ignored`, s.keyNode);
        }
      }
    }
  }
}

function specValue(obj: Node | undefined, key: string): Node | undefined {
  if (obj?.type !== 'object') return undefined;
  const all = objectEntries(obj).filter((e) => e.key === key);
  return all[all.length - 1]?.valueNode;
}

function kindOf(format: string): string {
  const p = parseFormat(format);
  return p.ok ? p.format.kind : 'invalid';
}

function checkLayer(e: PropertyEntry, recipe: ReturnType<typeof lenientRecipe>, input: RecipeCheckInput, add: Add, suggest: { left: number }): void {
  const m = input.model!;
  const layer = m.byName.get(e.key);
  if (!layer) {
    const node = m.graph.byName.get(e.key);
    if (node) {
      add('not-quantizable', 'error', `'${e.key}' is a ${node.opType} node, not a quantizable layer (Conv, ConvTranspose, Gemm, MatMul, Gather): export rejects recipes that name it`, e.keyNode, { data: { layer: e.key } });
      return;
    }
    const suggestions = suggest.left-- > 0 ? m.closest(e.key, 3) : [];
    add('unknown-layer', 'error', `Layer '${e.key}' is not in the model${suggestions.length ? `: did you mean ${suggestions.map((s) => `'${s}'`).join(', ')}?` : ''}`, e.keyNode, { data: { layer: e.key, suggestions } });
    return;
  }
  const v = e.valueNode;
  const eff = effectiveLayerSpec(recipe, e.key);
  const base = effectiveLayerSpec({ defaults: recipe.defaults, layers: {} }, e.key);
  if (kindOf(eff.weights) === 'invalid' || kindOf(eff.activations) === 'invalid') return;
  const wNode = specValue(v, 'weights');
  const aNode = specValue(v, 'activations');
  const cNode = specValue(v, 'calibration');
  if (layer.weight && FLOATISH.has(kindOf(eff.weights)) && kindOf(eff.activations) === 'int' && (wNode || aNode || v?.type === 'string')) {
    add('float-weights-int-activations', 'warning',
      `Layer '${e.key}' keeps ${eff.weights} weights but quantizes its activations to ${eff.activations}: no integer kernel runs it, so this only adds error. Quantize the weights too, or use "float" for both`,
      aNode ?? wNode ?? e.keyNode, { data: { layer: e.key } });
  }
  if (!layer.weight && wNode && kindOf(eff.weights) !== 'float') {
    add('no-weights', 'warning', `Layer '${e.key}' (${layer.opType}, ${layer.kind}) has no constant weight tensor: 'weights' has no effect (its inputs use 'activations')`, wNode, { unnecessary: true, data: { layer: e.key } });
  }
  const spread = wNode ? perTensorSpread(layer, eff.weights) : undefined;
  if (spread && wNode) {
    add('per-tensor-spread', 'warning', `Per-tensor ${eff.weights} weights on ${spreadText(`'${e.key}'`, spread)}: one scale for channels whose ranges differ that much; use ${spread.replacement}`,
      wNode, { data: { layer: e.key, replacement: spread.replacement } });
  }
  const wf = parseFormat(eff.weights);
  if (wNode && layer.weight && wf.ok && wf.format.kind === 'int' && wf.format.granularity.kind === 'block') {
    const dim = layer.weight.dims[layer.weight.reductionAxis];
    if (dim !== undefined && dim <= wf.format.granularity.size) {
      add('block-size', 'info', `Block size ${wf.format.granularity.size} covers the whole reduction axis of '${e.key}' (${dim}): same as per-channel`, wNode);
    }
  }
  if (cNode && kindOf(eff.activations) !== 'int') {
    add('calibration-unused', 'hint', `Calibration has no effect: the activations of '${e.key}' are ${eff.activations}`, cNode, { unnecessary: true });
  }
  const same = canonicalFormat(eff.weights) === canonicalFormat(base.weights) && canonicalFormat(eff.activations) === canonicalFormat(base.activations)
    && eff.calibration.trim().toLowerCase() === base.calibration.trim().toLowerCase() && !(v?.type === 'object' && specValue(v, 'scales'));
  if (same && v) add('redundant-override', 'hint', `Same as the defaults: this override of '${e.key}' changes nothing`, e.prop, { unnecessary: true, data: { layer: e.key } });

  if (input.report) {
    const verdict = sensitivityVerdict(input.report, e.key, eff.weights, eff.activations, eff.algorithm);
    if (verdict) {
      add('sensitive-layer', 'warning', sensitivityMessage(e.key, eff.weights, verdict, input.report), e.keyNode, { data: { layer: e.key, higher: higherFor(input.report) } });
    }
  }
}

/** The higher-precision setting quick fixes apply: the recommendation's, else int8 per-channel weights with uint8 activations. */
function higherFor(rep: ReportIndex): { weights: string; activations: string } {
  const h = rep.report.recommendation?.higher;
  return h ? { weights: h.weights, activations: h.activations } : { weights: 'int8/per-channel', activations: 'uint8' };
}

/** A sentence with the numbers behind a sensitivity warning. */
export function sensitivityMessage(layer: string, weights: string, v: SensitivityVerdict, rep: ReportIndex): string {
  const s = v.sens;
  const parts: string[] = [];
  const db = (x: number) => `${x.toFixed(1)} dB`;
  if (s.isolatedSqnrDb !== undefined) {
    const kind = s.result.isolated ? 'isolated output SQNR' : 'layer-output SQNR';
    parts.push(`${kind} ${db(s.isolatedSqnrDb)} with only this layer quantized`);
  }
  if (s.rank !== undefined) parts.push(`rank ${s.rank} of ${s.of}${s.medianSqnrDb !== undefined ? `, median layer ${db(s.medianSqnrDb)}` : ''}`);
  if (s.noiseShare !== undefined && s.result.isolated) parts.push(`${Math.round(s.noiseShare * 100)}% of the fully quantized model's output noise`);
  const at = `${s.candidate.id}${s.exact ? '' : ` (${s.candidate.weights} weights, ${s.candidate.activations} activations)`}`;
  let msg = `'${layer}' is highly sensitive at ${weights}: ${parts.join('; ')} [analysis at ${at}]`;
  const rec = rep.report.recommendation;
  if (v.recommendedKeep && rec) msg += `. The analysis recommends keeping it at ${rec.higher.weights} weights / ${rec.higher.activations} activations`;
  return msg;
}

function checkDefaultsSensitivity(doc: RecipeDoc, recipe: ReturnType<typeof lenientRecipe>, input: RecipeCheckInput, add: Add): void {
  const defaultsEntry = doc.field.get('defaults');
  if (!defaultsEntry || defaultsEntry.valueNode?.type !== 'object') return;
  const listed = new Set(doc.layers.map((e) => e.key));
  const hits: { name: string; v: SensitivityVerdict }[] = [];
  for (const l of input.model!.layers) {
    if (listed.has(l.name)) continue;
    const eff = effectiveLayerSpec(recipe, l.name);
    const v = sensitivityVerdict(input.report!, l.name, eff.weights, eff.activations, eff.algorithm);
    if (v) hits.push({ name: l.name, v });
  }
  if (!hits.length) return;
  hits.sort((a, b) => (isolatedSqnr(a.v.sens.result) ?? 0) - (isolatedSqnr(b.v.sens.result) ?? 0));
  const eff = effectiveLayerSpec({ defaults: recipe.defaults, layers: {} }, '');
  if (!(bitsOf(eff.weights) < 32)) return;
  const list = hits.slice(0, 5).map((h) => `${h.name} (${h.v.sens.isolatedSqnrDb?.toFixed(1) ?? '?'} dB, rank ${h.v.sens.rank ?? '?'} of ${h.v.sens.of})`).join(', ');
  const target = specValue(defaultsEntry.valueNode, 'weights') ?? defaultsEntry.keyNode;
  // Most layers flagged is not news about a few layers: it says the defaults are too coarse for the target.
  const total = input.model!.layers.length;
  const rec = input.report!.report.recommendation;
  const many = hits.length > Math.max(3, total / 4);
  add('sensitive-defaults', 'warning',
    many && rec
      ? `The last analysis keeps ${rec.keep.length} of ${total} layers at ${rec.higher.weights} to reach its target (${rec.met ? 'met' : 'not met'}); these defaults (${eff.weights}) apply to ${hits.length} of them, most sensitive first: ${list}${hits.length > 5 ? ', ...' : ''}. Consider a more precise default.`
      : `${hits.length} of ${total} layers are among the most sensitive (lowest 10% by isolated SQNR, or kept by the recommendation) and use these defaults (${eff.weights}) per the last analysis: ${list}${hits.length > 5 ? ', ...' : ''}`,
    target, { data: { layers: hits.map((h) => h.name), higher: higherFor(input.report!) } });
}

/** One warning on `defaults.weights` listing the layers it leaves per-tensor although their channel ranges differ a lot. */
function checkDefaultsSpread(doc: RecipeDoc, recipe: ReturnType<typeof lenientRecipe>, model: RecipeModelIndex, add: Add): void {
  const target = specValue(doc.field.get('defaults')?.valueNode, 'weights');
  if (!target) return;
  const hits: { name: string; p: NonNullable<ReturnType<typeof perTensorSpread>> }[] = [];
  for (const l of model.layers) {
    const o = recipe.layers[l.name];
    if (o === 'float' || (o && o.weights !== undefined)) continue;
    const p = perTensorSpread(l, effectiveLayerSpec(recipe, l.name).weights);
    if (p) hits.push({ name: l.name, p });
  }
  if (!hits.length) return;
  hits.sort((a, b) => b.p.spread - a.p.spread);
  const list = hits.slice(0, 5).map((h) => spreadText(h.name, h.p)).join(', ');
  add('per-tensor-spread', 'warning', `${hits.length} layer${hits.length > 1 ? 's have' : ' has'} output channels whose ranges differ too much for per-tensor weights: ${list}${hits.length > 5 ? ', ...' : ''}`,
    target, { data: { layers: hits.map((h) => h.name), replacement: hits[0].p.replacement } });
}
