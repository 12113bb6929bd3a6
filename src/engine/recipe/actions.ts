/** Quick fixes and code lenses of recipe files (pure: document + diagnostics + indexes in, edits and commands out). */
import { pathToFileURL } from 'url';
import { CodeAction, CodeActionKind, CodeLens, Diagnostic, DocumentLink, Range, TextEdit } from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import type { Node } from 'jsonc-parser';
import type { LayerSpec } from '../../shared/recipe';
import { effectiveLayerSpec, RECIPE_VERSION } from '../../shared/recipe';
import { RECIPE_DIAGNOSTIC_SOURCE } from './diagnostics';
import { atLeastAsPrecise, canonicalFormat, isolatedSqnr, RecipeModelIndex, ReportIndex } from './indexes';
import { lenientRecipe, nodeAt, parseRecipeText, PropertyEntry, RecipeDoc } from './parse';
import type { RecipeIssueCode, RecipeIssueData } from './validate';
import { resolveRecipePath } from './validate';

/** Commands the extension registers; lenses pass the recipe URI, or `{ model, layer }` (absolute model path) to showLayer. */
export const RECIPE_COMMANDS = {
  analyze: 'quantlens.analyze',
  runQat: 'quantlens.runQat',
  export: 'quantlens.export',
  showLayer: 'quantlens.showLayer',
} as const;

/** Code action kind of "Apply the recommendation" when offered without a diagnostic. */
export const APPLY_RECOMMENDATION_KIND = `${CodeActionKind.Source}.quantlens.applyRecommendation`;

/** What code actions and lenses need besides the document. */
export interface RecipeActionInput {
  doc?: RecipeDoc;
  recipePath?: string;
  model?: RecipeModelIndex;
  report?: ReportIndex;
}

/** A value as compact one-line JSON with spaces (`{ "weights": "int8/per-channel" }`). */
export function compactJson(v: unknown): string {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const parts = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).map(([k, x]) => `${JSON.stringify(k)}: ${compactJson(x)}`);
    return parts.length ? `{ ${parts.join(', ')} }` : '{}';
  }
  if (Array.isArray(v)) return `[${v.map(compactJson).join(', ')}]`;
  return JSON.stringify(v);
}

function lineStart(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1;
}

function indentOf(text: string, offset: number): string {
  const s = lineStart(text, offset);
  return /^[ \t]*/.exec(text.slice(s))![0];
}

/** The indentation unit the document uses (two spaces when it cannot tell). */
function indentUnit(text: string): string {
  const m = /\n([ \t]+)"/.exec(text);
  return m ? m[1] : '  ';
}

function rangeOf(document: TextDocument, start: number, end: number): Range {
  return { start: document.positionAt(start), end: document.positionAt(end) };
}

/** The edit that removes a property with its comma (whole lines when the property sits on its own lines). */
export function removePropertyEdit(document: TextDocument, text: string, prop: Node): TextEdit {
  const siblings = prop.parent?.children ?? [];
  const i = siblings.indexOf(prop);
  const blankBefore = (o: number) => /^[ \t]*$/.test(text.slice(lineStart(text, o), o));
  const next = siblings[i + 1];
  if (next) {
    const start = blankBefore(prop.offset) ? lineStart(text, prop.offset) : prop.offset;
    const end = blankBefore(next.offset) ? lineStart(text, next.offset) : next.offset;
    return TextEdit.del(rangeOf(document, start, end));
  }
  const prev = siblings[i - 1];
  if (prev) return TextEdit.del(rangeOf(document, prev.offset + prev.length, prop.offset + prop.length));
  return TextEdit.del(rangeOf(document, prop.offset, prop.offset + prop.length));
}

/** Text of an object of layer entries, one per line, indented to sit at `indent`. */
function layersObjectText(layers: Record<string, LayerSpec | 'float'>, indent: string, unit: string): string {
  const names = Object.keys(layers);
  if (!names.length) return '{}';
  return `{\n${names.map((n) => `${indent}${unit}${JSON.stringify(n)}: ${compactJson(layers[n])}`).join(',\n')}\n${indent}}`;
}

/** Edits adding layer entries to the `layers` object (after its last entry). */
function addLayersEdits(document: TextDocument, doc: RecipeDoc, add: Record<string, LayerSpec | 'float'>): TextEdit[] {
  const entry = doc.field.get('layers');
  const obj = entry?.valueNode;
  if (!entry || obj?.type !== 'object') return [];
  const unit = indentUnit(doc.text);
  const indent = indentOf(doc.text, entry.prop.offset);
  const last = obj.children?.[obj.children.length - 1];
  if (!last) return [TextEdit.replace(rangeOf(document, obj.offset, obj.offset + obj.length), layersObjectText(add, indent, unit))];
  const lines = Object.entries(add).map(([n, v]) => `,\n${indent}${unit}${JSON.stringify(n)}: ${compactJson(v)}`).join('');
  return [TextEdit.insert(document.positionAt(last.offset + last.length), lines)];
}

function setValueEdit(document: TextDocument, node: Node, value: unknown): TextEdit {
  return TextEdit.replace(rangeOf(document, node.offset, node.offset + node.length), compactJson(value));
}

function action(title: string, uri: string, edits: TextEdit[], diagnostic?: Diagnostic, preferred = false, kind: string = CodeActionKind.QuickFix): CodeAction {
  const a: CodeAction = { title, kind, edit: { changes: { [uri]: edits } } };
  if (diagnostic) a.diagnostics = [diagnostic];
  if (preferred) a.isPreferred = true;
  return a;
}

/** "Apply the recommendation": replaces `layers` (and `defaults` when they differ) by the report's recommended recipe. */
export function applyRecommendationAction(document: TextDocument, doc: RecipeDoc, report: ReportIndex, diagnostic?: Diagnostic, kind: string = CodeActionKind.QuickFix): CodeAction | undefined {
  const rec = report.report.recommendation;
  const layersEntry = doc.field.get('layers');
  if (!rec || !layersEntry?.valueNode) return undefined;
  const unit = indentUnit(doc.text);
  const edits = [TextEdit.replace(rangeOf(document, layersEntry.valueNode.offset, layersEntry.valueNode.offset + layersEntry.valueNode.length),
    layersObjectText(rec.recipe.layers, indentOf(doc.text, layersEntry.prop.offset), unit))];
  const defaultsEntry = doc.field.get('defaults');
  const current = lenientRecipe(doc).defaults;
  const want = rec.recipe.defaults ?? {};
  const differs = (['weights', 'activations', 'calibration'] as const).some((k) => (want[k] ?? '') !== '' && canonicalFormat(want[k]!) !== canonicalFormat(current[k] ?? ''));
  if (differs && defaultsEntry?.valueNode) edits.push(setValueEdit(document, defaultsEntry.valueNode, { ...current, ...want }));
  const n = rec.keep.length;
  const title = `Apply the recommendation: keep ${n} layer${n === 1 ? '' : 's'} at ${rec.higher.weights}${differs ? `, defaults ${rec.base.weights}` : ''} (${rec.met ? 'meets' : 'does not meet'} the target)`;
  return action(title, document.uri, edits, diagnostic, false, kind);
}

/** Code actions for the diagnostics in `diagnostics` (ours only) and the entry at `range`. */
export function recipeCodeActions(document: TextDocument, range: Range, diagnostics: Diagnostic[], input: RecipeActionInput): CodeAction[] {
  const doc = input.doc ?? parseRecipeText(document.getText());
  const uri = document.uri;
  const out: CodeAction[] = [];
  const entryFor = (layer: string | undefined, d: Diagnostic): PropertyEntry | undefined => {
    const at = document.offsetAt(d.range.start);
    return doc.layers.find((e) => e.key === layer && at >= e.prop.offset && at <= e.prop.offset + e.prop.length) ?? doc.layers.find((e) => e.key === layer);
  };
  const propAt = (d: Diagnostic): Node | undefined => {
    const at = document.offsetAt(d.range.start);
    const visit = (n: Node): Node | undefined => {
      if (n.type === 'property' && n.children?.[0]?.offset === at) return n;
      for (const c of n.children ?? []) if (at >= c.offset && at < c.offset + c.length) return visit(c);
      return undefined;
    };
    return doc.root && visit(doc.root);
  };
  let recommended = false;
  for (const d of diagnostics) {
    if (d.source !== RECIPE_DIAGNOSTIC_SOURCE) continue;
    const code = d.code as RecipeIssueCode;
    const data = (d.data ?? {}) as RecipeIssueData;
    const e = entryFor(data.layer, d);
    switch (code) {
      case 'unknown-layer':
        if (!e) break;
        (data.suggestions ?? []).forEach((s, i) => out.push(action(`Replace with closest name '${s}'`, uri, [TextEdit.replace(rangeOf(document, e.keyNode.offset, e.keyNode.offset + e.keyNode.length), JSON.stringify(s))], d, i === 0)));
        out.push(action(`Remove unknown layer '${e.key}'`, uri, [removePropertyEdit(document, doc.text, e.prop)], d));
        break;
      case 'not-quantizable': case 'redundant-override': case 'duplicate-key': {
        const prop = e?.prop ?? propAt(d);
        if (prop) out.push(action(code === 'duplicate-key' ? 'Remove this duplicate entry' : `Remove the entry for '${data.layer}'`, uri, [removePropertyEdit(document, doc.text, prop)], d, code !== 'duplicate-key'));
        break;
      }
      case 'unknown-field': {
        const prop = propAt(d);
        const key = prop?.children?.[0];
        if (!prop || !key) break;
        (data.suggestions ?? []).forEach((s, i) => out.push(action(`Replace with '${s}'`, uri, [TextEdit.replace(rangeOf(document, key.offset, key.offset + key.length), JSON.stringify(s))], d, i === 0)));
        out.push(action(`Remove field '${key.value}'`, uri, [removePropertyEdit(document, doc.text, prop)], d));
        break;
      }
      case 'unsupported-version': {
        const v = doc.field.get('version')?.valueNode;
        if (v) out.push(action(`Set version to ${RECIPE_VERSION}`, uri, [setValueEdit(document, v, RECIPE_VERSION)], d, true));
        break;
      }
      case 'layer-short-form':
        if (e?.valueNode) out.push(action(`Convert to { "weights": ${JSON.stringify(e.valueNode.value)} }`, uri, [setValueEdit(document, e.valueNode, { weights: e.valueNode.value })], d, true));
        break;
      case 'float-weights-int-activations':
        if (e?.valueNode) out.push(action(`Keep '${e.key}' in float (weights and activations)`, uri, [setValueEdit(document, e.valueNode, 'float')], d, true));
        break;
      case 'sensitive-layer': {
        if (!e?.valueNode) break;
        const h = data.higher ?? { weights: 'int8/per-channel', activations: 'uint8' };
        const cur = e.valueNode.type === 'object' ? (lenientRecipe(doc).layers[e.key] as LayerSpec) : {};
        out.push(action(`Keep '${e.key}' at higher precision (${h.weights} / ${h.activations})`, uri, [setValueEdit(document, e.valueNode, { ...cur, weights: h.weights, activations: h.activations })], d, true));
        out.push(action(`Keep '${e.key}' in float`, uri, [setValueEdit(document, e.valueNode, 'float')], d));
        if (input.report && !recommended) { const a = applyRecommendationAction(document, doc, input.report, d); if (a) { out.push(a); recommended = true; } }
        break;
      }
      case 'sensitive-defaults': {
        const h = data.higher ?? { weights: 'int8/per-channel', activations: 'uint8' };
        const names = data.layers ?? [];
        const edits = addLayersEdits(document, doc, Object.fromEntries(names.map((n) => [n, { weights: h.weights, activations: h.activations }])));
        if (edits.length && names.length) out.push(action(`Keep the ${names.length} sensitive layer${names.length > 1 ? 's' : ''} at higher precision (${h.weights} / ${h.activations})`, uri, edits, d, true));
        if (input.report && !recommended) { const a = applyRecommendationAction(document, doc, input.report, d); if (a) { out.push(a); recommended = true; } }
        break;
      }
      case 'per-tensor-spread': {
        const at = document.offsetAt(d.range.start);
        const node = nodeAt(doc, at + 1);
        const rep = data.replacement;
        if (!rep || node?.type !== 'string' || node.offset !== at) break;
        if (data.layer) {
          out.push(action(`Use ${rep} weights for '${data.layer}'`, uri, [setValueEdit(document, node, rep)], d, true));
          break;
        }
        out.push(action(`Use ${rep} weights by default`, uri, [setValueEdit(document, node, rep)], d, true));
        const listed = new Set(doc.layers.map((x) => x.key));
        const names = (data.layers ?? []).filter((n) => !listed.has(n));
        const edits = addLayersEdits(document, doc, Object.fromEntries(names.map((n) => [n, { weights: rep }])));
        if (edits.length && names.length) out.push(action(`Use ${rep} weights for the ${names.length} layer${names.length > 1 ? 's' : ''} listed`, uri, edits, d));
        break;
      }
      case 'missing-field': {
        const f = data.suggestions?.[0];
        const root = doc.root;
        const values: Record<string, unknown> = { version: RECIPE_VERSION, defaults: { weights: 'int8/per-channel', activations: 'uint8', calibration: 'minmax' }, layers: {} };
        if (!f || !(f in values) || root?.type !== 'object') break;
        const unit = indentUnit(doc.text);
        const sep = (root.children?.length ?? 0) > 0 ? ',' : '';
        out.push(action(`Add '${f}'`, uri, [TextEdit.insert(document.positionAt(root.offset + 1), `\n${unit}${JSON.stringify(f)}: ${compactJson(values[f])}${sep}`)], d, true));
        break;
      }
    }
  }
  // Without a diagnostic: on a layer entry, offer to keep it in float; anywhere, apply the recommendation.
  const at = document.offsetAt(range.start);
  const here = doc.layers.find((e) => at >= e.prop.offset && at <= e.prop.offset + e.prop.length);
  if (here?.valueNode && !(here.valueNode.type === 'string' && here.valueNode.value === 'float') && input.model?.byName.has(here.key) && !out.some((a) => a.title.startsWith(`Keep '${here.key}'`))) {
    const h = input.report?.report.recommendation?.higher;
    const eff = effectiveLayerSpec(lenientRecipe(doc), here.key);
    if (h && !atLeastAsPrecise(eff.weights, h.weights)) {
      const cur = here.valueNode.type === 'object' ? (lenientRecipe(doc).layers[here.key] as LayerSpec) : {};
      out.push(action(`Keep '${here.key}' at higher precision (${h.weights} / ${h.activations})`, uri, [setValueEdit(document, here.valueNode, { ...cur, weights: h.weights, activations: h.activations })], undefined, false, CodeActionKind.RefactorRewrite));
    }
    out.push(action(`Keep '${here.key}' in float`, uri, [setValueEdit(document, here.valueNode, 'float')], undefined, false, CodeActionKind.RefactorRewrite));
  }
  if (input.report && !recommended) {
    const a = applyRecommendationAction(document, doc, input.report, undefined, APPLY_RECOMMENDATION_KIND);
    if (a) out.push(a);
  }
  return out;
}

/** Code lenses: Analyze / Run QAT / Export on the first line; "Show in report" on each layer entry in the model. */
export function recipeCodeLenses(document: TextDocument, input: RecipeActionInput): CodeLens[] {
  const doc = input.doc ?? parseRecipeText(document.getText());
  if (doc.root?.type !== 'object') return [];
  const top = rangeOf(document, doc.root.offset, doc.root.offset + 1);
  const lenses: CodeLens[] = [
    { range: top, command: { title: 'Analyze with this recipe', command: RECIPE_COMMANDS.analyze, arguments: [document.uri] } },
    { range: top, command: { title: 'Run QAT', command: RECIPE_COMMANDS.runQat, arguments: [document.uri] } },
    { range: top, command: { title: 'Export', command: RECIPE_COMMANDS.export, arguments: [document.uri] } },
  ];
  const modelRel = doc.field.get('model')?.valueNode;
  if (!input.recipePath || modelRel?.type !== 'string') return lenses;
  const modelPath = resolveRecipePath(input.recipePath, modelRel.value);
  const rep = input.report;
  const primary = rep?.report.primaryFormat;
  for (const e of doc.layers) {
    if (input.model && !input.model.byName.has(e.key)) continue;
    let title = 'Show in report';
    const lr = rep?.byName.get(e.key);
    if (lr && primary) {
      const s = isolatedSqnr(lr.formats[primary]);
      title += ` (rank ${rep!.ranks(primary).get(e.key) ?? lr.rank}${s !== undefined ? `, ${s.toFixed(1)} dB at ${primary}` : ''})`;
    }
    lenses.push({ range: rangeOf(document, e.keyNode.offset, e.keyNode.offset + e.keyNode.length), command: { title, command: RECIPE_COMMANDS.showLayer, arguments: [{ model: modelPath, layer: e.key }] } });
  }
  return lenses;
}


/** Links from the `model` and `data` paths to their files (resolved against the recipe's folder). */
export function recipeDocumentLinks(document: TextDocument, input: RecipeActionInput): DocumentLink[] {
  const doc = input.doc ?? parseRecipeText(document.getText());
  if (!input.recipePath) return [];
  const links: DocumentLink[] = [];
  for (const f of ['model', 'data']) {
    const v = doc.field.get(f)?.valueNode;
    if (v?.type !== 'string' || !v.value || v.length < 3) continue;
    const target = resolveRecipePath(input.recipePath, v.value);
    links.push({ range: rangeOf(document, v.offset + 1, v.offset + v.length - 1), target: pathToFileURL(target).toString(), tooltip: target });
  }
  return links;
}
