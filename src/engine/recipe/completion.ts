/** Completion in recipe files: layer names (with op type and sensitivity), formats, calibration methods, fields. */
import { readdirSync } from 'fs';
import * as path from 'path';
import { getLocation, Node } from 'jsonc-parser';
import { CompletionItem, CompletionItemKind, InsertTextFormat, MarkupKind, Range, TextEdit } from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { parseFormat } from '../../shared/formats';
import { ALGORITHM_HELP, QuantAlgorithm, RECIPE_VERSION } from '../../shared/recipe';
import { ACTIVATION_FORMATS, ALGORITHM_NAMES, CALIBRATION_EXAMPLES, CALIBRATION_HELP, describeFormat, fieldDescription, ROOT_FIELDS, SPEC_FIELDS, WEIGHT_FORMATS } from './fields';
import { canonicalFormat, isolatedSqnr, RecipeModelIndex, ReportIndex } from './indexes';
import { humanCount } from './hover';
import { nodeAt, objectEntries, parseRecipeText, RecipeDoc } from './parse';

/** What completion needs besides the document. */
export interface RecipeCompletionInput {
  doc?: RecipeDoc;
  recipePath?: string;
  model?: RecipeModelIndex;
  report?: ReportIndex;
  /** Lists a folder's files (injectable for tests); used to complete `model`. */
  listDir?: (dir: string) => string[];
}

const TRIGGER_SUGGEST = { title: 'Suggest', command: 'editor.action.triggerSuggest' };

const ROOT_SNIPPETS: Record<string, string> = {
  version: `"version": ${RECIPE_VERSION}`,
  model: '"model": "$1"',
  data: '"data": "$1"',
  samples: '"samples": ${1:128}',
  defaults: '"defaults": {\n\t"weights": "${1:int8/per-channel}",\n\t"activations": "${2:uint8}",\n\t"calibration": "${3:minmax}"\n}',
  layers: '"layers": {\n\t$1\n}',
  notes: '"notes": "$1"',
};

/** The range a completion replaces: the string token around `offset` (quotes included), else an empty range. */
function replaceRange(document: TextDocument, doc: RecipeDoc, offset: number): { range: Range; node?: Node } {
  const node = nodeAt(doc, offset);
  if (node && node.type === 'string' && offset > node.offset && offset <= node.offset + node.length) {
    return { range: { start: document.positionAt(node.offset), end: document.positionAt(node.offset + node.length) }, node };
  }
  // An unterminated string the parser did not keep: from its opening quote to the cursor (and a closing quote).
  const line = doc.text.slice(doc.text.lastIndexOf('\n', offset - 1) + 1, offset);
  const m = /"[^"]*$/.exec(line);
  if (m && (line.slice(0, m.index).match(/"/g)?.length ?? 0) % 2 === 0) {
    const start = offset - (line.length - m.index);
    const end = doc.text[offset] === '"' ? offset + 1 : offset;
    return { range: { start: document.positionAt(start), end: document.positionAt(end) } };
  }
  const p = document.positionAt(offset);
  return { range: { start: p, end: p } };
}

/** Whether a property after the cursor needs a separating comma. */
function needsComma(text: string, end: number): boolean {
  return /^\s*"/.test(text.slice(end));
}

/** Completion items at `offset` of a recipe document. */
export function recipeCompletions(document: TextDocument, offset: number, input: RecipeCompletionInput): CompletionItem[] {
  const doc = input.doc ?? parseRecipeText(document.getText());
  const loc = getLocation(doc.text, offset);
  const p = loc.path;
  const { range, node } = replaceRange(document, doc, offset);
  const endOffset = document.offsetAt(range.end);
  const hasColon = node?.parent?.type === 'property' && node.parent.colonOffset !== undefined && node.parent.children?.[0] === node;
  const keyItem = (label: string, snippet: string, extra: Partial<CompletionItem> = {}): CompletionItem => ({
    label,
    kind: CompletionItemKind.Property,
    filterText: `"${label}"`,
    textEdit: TextEdit.replace(range, hasColon ? JSON.stringify(label) : snippet + (needsComma(doc.text, endOffset) ? ',' : '')),
    insertTextFormat: hasColon ? InsertTextFormat.PlainText : InsertTextFormat.Snippet,
    ...extra,
  });
  const valueItem = (value: string, extra: Partial<CompletionItem> = {}): CompletionItem => ({
    label: value,
    kind: CompletionItemKind.Value,
    filterText: `"${value}"`,
    textEdit: TextEdit.replace(range, JSON.stringify(value)),
    ...extra,
  });

  if (!doc.root || (doc.root.type !== 'object' && !doc.text.trim())) {
    const models = modelFiles(input);
    const model = models.length ? `\${1|${models.map((m) => m.replace(/[,|]/g, '')).join(',')}|}` : '$1';
    return [{
      label: 'QuantLens recipe', kind: CompletionItemKind.Snippet, detail: 'a new *.qrecipe.json', insertTextFormat: InsertTextFormat.Snippet,
      textEdit: TextEdit.replace(range, `{\n\t"version": ${RECIPE_VERSION},\n\t"model": "${model}",\n\t"defaults": { "weights": "\${2:int8/per-channel}", "activations": "\${3:uint8}", "calibration": "\${4:minmax}" },\n\t"layers": {\n\t\t$0\n\t}\n}`),
    }];
  }
  if (loc.isAtPropertyKey) {
    const present = (obj: string[]) => new Set(existingKeys(doc, obj));
    if (p.length === 1) {
      const have = present([]);
      return ROOT_FIELDS.filter((f) => !have.has(f) || p[0] === f).map((f) => keyItem(f, ROOT_SNIPPETS[f] ?? `"${f}": $1`, { documentation: fieldDescription(f, false), command: TRIGGER_SUGGEST }));
    }
    if ((p.length === 2 && p[0] === 'defaults') || (p.length === 3 && p[0] === 'layers')) {
      const have = present(p.slice(0, -1).map(String));
      return SPEC_FIELDS.filter((f) => !have.has(f) || p[p.length - 1] === f).map((f) => keyItem(f, f === 'scales' ? `"scales": {$1}` : `"${f}": "$1"`, { documentation: fieldDescription(f, true), command: TRIGGER_SUGGEST }));
    }
    if (p.length === 2 && p[0] === 'layers') return layerItems(doc, input, keyItem, String(p[1]));
    return [];
  }
  const key = String(p[p.length - 1] ?? '');
  const inSpec = (p.length === 2 && p[0] === 'defaults') || (p.length === 3 && p[0] === 'layers');
  if (inSpec && (key === 'weights' || key === 'activations')) {
    const list = key === 'weights' ? WEIGHT_FORMATS : ACTIVATION_FORMATS;
    return list.map((f, i) => {
      const parsed = parseFormat(f);
      const analysed = key === 'weights' ? input.report?.report.formats.find((c) => canonicalFormat(c.weights) === canonicalFormat(f)) : undefined;
      const all = analysed ? input.report!.report.allQuantized[analysed.id] : undefined;
      const layerResult = analysed && p[0] === 'layers' ? input.report!.byName.get(String(p[1]))?.formats[analysed.id] : undefined;
      const s = isolatedSqnr(layerResult);
      const detail = [parsed.ok ? describeFormat(parsed.format) : '', all ? `all layers: ${all.sqnrDb.toFixed(1)} dB` : '', s !== undefined ? `this layer: ${s.toFixed(1)} dB` : ''].filter(Boolean).join(' · ');
      return valueItem(f, { kind: CompletionItemKind.EnumMember, detail, sortText: String(i).padStart(3, '0') });
    });
  }
  if (inSpec && key === 'algorithm') return ALGORITHM_NAMES.map((a) => valueItem(a, { kind: CompletionItemKind.EnumMember, detail: ALGORITHM_HELP[a as QuantAlgorithm] }));
  if (inSpec && key === 'calibration') return CALIBRATION_EXAMPLES.map((c) => valueItem(c, { kind: CompletionItemKind.EnumMember, documentation: CALIBRATION_HELP }));
  if (p.length === 2 && p[0] === 'layers') {
    return [
      valueItem('float', { kind: CompletionItemKind.EnumMember, detail: 'keep this layer unquantized' }),
      { label: '{ weights, activations }', kind: CompletionItemKind.Snippet, detail: 'override formats', textEdit: TextEdit.replace(range, '{ "weights": "${1:int8/per-channel}", "activations": "${2:uint8}" }'), insertTextFormat: InsertTextFormat.Snippet },
    ];
  }
  if (p.length === 1 && key === 'version') return [{ label: String(RECIPE_VERSION), kind: CompletionItemKind.Value, textEdit: TextEdit.replace(range, String(RECIPE_VERSION)) }];
  if (p.length === 1 && key === 'model') return modelFiles(input).map((f) => valueItem(f, { kind: CompletionItemKind.File }));
  return [];
}

/** The .onnx files in the recipe's folder. */
function modelFiles(input: RecipeCompletionInput): string[] {
  if (!input.recipePath) return [];
  const list = input.listDir ?? ((d: string) => { try { return readdirSync(d); } catch { return []; } });
  return list(path.dirname(input.recipePath)).filter((f) => f.toLowerCase().endsWith('.onnx'));
}

function existingKeys(doc: RecipeDoc, objPath: string[]): string[] {
  let n = doc.root;
  for (const seg of objPath) {
    n = n?.type === 'object' ? objectEntries(n).find((e) => e.key === seg)?.valueNode : undefined;
  }
  return n?.type === 'object' ? objectEntries(n).map((e) => e.key) : [];
}

function layerItems(doc: RecipeDoc, input: RecipeCompletionInput, keyItem: (label: string, snippet: string, extra?: Partial<CompletionItem>) => CompletionItem, current: string): CompletionItem[] {
  const m = input.model;
  if (!m) return [];
  const listed = new Set(doc.layers.map((e) => e.key));
  listed.delete(current);
  const rep = input.report;
  const primary = rep?.report.primaryFormat;
  const ranks = primary ? rep!.ranks(primary) : undefined;
  const width = String(m.graph.nodes.length).length;
  const items: CompletionItem[] = [];
  for (const l of m.layers) {
    if (listed.has(l.name)) continue;
    let detail = `${l.opType} (${l.kind})`;
    if (l.weight) detail += ` [${l.weight.dims.join('×')}]`;
    const lr = rep?.byName.get(l.name);
    // With an analysis, the most sensitive layers come first; otherwise model order.
    let sortText = `1${String(l.nodeIndex).padStart(width, '0')}`;
    if (lr && primary) {
      const s = isolatedSqnr(lr.formats[primary]);
      const rank = ranks!.get(l.name) ?? lr.rank;
      sortText = `0${String(rank).padStart(width, '0')}`;
      detail += ` · rank ${rank}/${rep!.report.layers.length}${s !== undefined ? ` · ${s.toFixed(1)} dB @ ${primary}` : ''}`;
    }
    items.push(keyItem(l.name, `${JSON.stringify(l.name)}: $1`, {
      kind: CompletionItemKind.Field,
      detail,
      documentation: { kind: MarkupKind.Markdown, value: `${humanCount(l.params)} parameters${l.macs !== undefined ? ` · ${humanCount(l.macs)} MACs` : ''}${rep?.keep.has(l.name) ? ' · recommended to keep at higher precision' : ''}` },
      sortText,
      command: TRIGGER_SUGGEST,
    }));
  }
  return items;
}
