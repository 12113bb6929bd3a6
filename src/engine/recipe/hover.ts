/** Hovers in recipe files: a layer's shapes, size and sensitivity; formats, fields and the model path explained. */
import { Hover, MarkupKind } from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import type { Node } from 'jsonc-parser';
import { getNodePath } from 'jsonc-parser';
import type { QuantLayer } from '../../core/onnx/layer';
import { parseFormat } from '../../shared/formats';
import { ALGORITHM_HELP, effectiveLayerSpec, parseAlgorithm } from '../../shared/recipe';
import type { EndToEndMetrics } from '../../shared/report';
import { ALGORITHM_DESCRIPTION, CALIBRATION_HELP, describeFormat, fieldDescription, FORMAT_GRAMMAR } from './fields';
import { canonicalFormat, isolatedSqnr, RecipeModelIndex, ReportIndex } from './indexes';
import { lenientRecipe, nodeAt, parseRecipeText, RecipeDoc } from './parse';
import { resolveRecipePath } from './validate';

/** What hover needs besides the document. */
export interface RecipeHoverInput {
  doc?: RecipeDoc;
  recipePath?: string;
  model?: RecipeModelIndex;
  report?: ReportIndex;
}

/** A number with thousands grouped (`1.2 M` above a million). */
export function humanCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

const db = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : `${x.toFixed(1)} dB`);
const pct = (x: number | undefined) => (x === undefined ? '–' : `${(x * 100).toFixed(1)}%`);

function metricCell(m: EndToEndMetrics | undefined): string {
  if (!m) return '–';
  return m.top1Agreement !== undefined ? `${db(m.sqnrDb)} (top-1 ${pct(m.top1Agreement)})` : db(m.sqnrDb);
}

/** Markdown describing a layer: op, weight shape, parameters, MACs, and the last analysis' numbers for it. */
export function layerMarkdown(layer: QuantLayer, report?: ReportIndex, effective?: { weights: string; activations: string; calibration: string }): string {
  const lines: string[] = [`**${layer.name}** — \`${layer.opType}\` (${layer.kind}), node #${layer.nodeIndex}`, ''];
  const w = layer.weight;
  const facts: string[] = [];
  if (w) facts.push(`weights \`${w.tensor}\` [${w.dims.join(' × ')}]`);
  else facts.push('no constant weights (both inputs are activations)');
  facts.push(`${humanCount(layer.params)} parameters`);
  if (layer.macs !== undefined) facts.push(`${humanCount(layer.macs)} MACs`);
  lines.push(facts.join(' · '));
  if (layer.activationInputs.length) lines.push('', `activation input${layer.activationInputs.length > 1 ? 's' : ''}: ${layer.activationInputs.map((t) => `\`${t}\``).join(', ')}`);
  if (layer.weightStats) {
    const s = layer.weightStats;
    lines.push('', `weight range [${s.min.toPrecision(3)}, ${s.max.toPrecision(3)}], channel range spread ${s.channelRangeSpread.toFixed(1)}×, abs max / std ${s.outlierRatio.toFixed(1)}`);
  }
  if (effective) lines.push('', `In this recipe: weights \`${effective.weights}\`, activations \`${effective.activations}\`, calibration \`${effective.calibration}\``);
  const lr = report?.byName.get(layer.name);
  if (report && lr) {
    const r = report.report;
    lines.push('', `**Last analysis** (${r.createdAt.slice(0, 16).replace('T', ' ')}, ${r.data.samples} ${r.data.synthetic ? 'synthetic' : 'real'} samples): rank ${lr.rank} of ${r.layers.length} at ${r.primaryFormat}`);
    lines.push('', '| format | weight SQNR | layer SQNR | isolated output | all but this one |', '|---|---|---|---|---|');
    for (const c of r.formats) {
      const f = lr.formats[c.id];
      if (!f) continue;
      const rank = report.ranks(c.id).get(layer.name);
      lines.push(`| ${c.id} | ${db(f.weightSqnrDb)} | ${db(f.localSqnrDb)} | ${metricCell(f.isolated)}${rank ? ` · #${rank}` : ''} | ${metricCell(f.allButOne)} |`);
    }
    if (lr.diagnoses.length) {
      lines.push('');
      for (const d of lr.diagnoses) lines.push(`- ${d.severity === 'error' ? '⛔' : d.severity === 'warning' ? '⚠️' : 'ℹ️'} ${d.message} — ${d.suggestion}`);
    }
    const rec = r.recommendation;
    if (rec) lines.push('', report.keep.has(layer.name) ? `Recommended: keep at \`${rec.higher.weights}\` / \`${rec.higher.activations}\`.` : `Recommended: \`${rec.base.weights}\` / \`${rec.base.activations}\`.`);
  } else if (report) {
    lines.push('', '_Not in the last analysis._');
  } else {
    lines.push('', '_No analysis yet: run “QuantLens: Analyze” for sensitivity numbers._');
  }
  return lines.join('\n');
}

/** The hover at `offset` of a recipe document, or null. */
export function recipeHover(document: TextDocument, offset: number, input: RecipeHoverInput): Hover | null {
  const doc = input.doc ?? parseRecipeText(document.getText());
  const node = nodeAt(doc, offset);
  if (!node || node.type !== 'string' || node.parent?.type !== 'property') return null;
  const prop = node.parent;
  const isKey = prop.children?.[0] === node;
  const path = getNodePath(node);
  const range = { start: document.positionAt(node.offset), end: document.positionAt(node.offset + node.length) };
  const md = (value: string): Hover => ({ contents: { kind: MarkupKind.Markdown, value }, range });

  if (isKey && path.length === 2 && path[0] === 'layers') {
    const name = String(path[1]);
    const layer = input.model?.byName.get(name);
    if (layer) return md(layerMarkdown(layer, input.report, effectiveLayerSpec(lenientRecipe(doc), name)));
    const other = input.model?.graph.byName.get(name);
    if (other) return md(`**${name}** — \`${other.opType}\` node #${other.index}: not a quantizable layer`);
    return input.model ? md(`**${name}** is not a node of the model`) : null;
  }
  if (isKey) {
    const inSpec = path[0] === 'defaults' || (path[0] === 'layers' && path.length === 3);
    const desc = fieldDescription(String(path[path.length - 1]), inSpec && path.length >= 2);
    return desc ? md(desc) : null;
  }
  const key = String(path[path.length - 1]);
  const inSpec = path.length >= 2 && (path[0] === 'defaults' || path[0] === 'layers');
  if (inSpec && (key === 'weights' || key === 'activations')) return md(formatHover(node, key, path, input));
  if (inSpec && key === 'calibration') return md(CALIBRATION_HELP);
  if (inSpec && key === 'algorithm') { const a = parseAlgorithm(String(node.value)); return md(a ? `**${a}**: ${ALGORITHM_HELP[a]}` : ALGORITHM_DESCRIPTION); }
  if (path.length === 1 && (key === 'model' || key === 'data') && input.recipePath) {
    const abs = resolveRecipePath(input.recipePath, node.value);
    const extra = key === 'model' && input.model && input.model.path === abs ? `\n\n${input.model.graph.nodes.length} nodes, ${input.model.layers.length} quantizable layers` : '';
    return md(`\`${abs}\`${extra}`);
  }
  return null;
}

function formatHover(node: Node, key: string, path: (string | number)[], input: RecipeHoverInput): string {
  const f = parseFormat(node.value);
  if (!f.ok) return `**Invalid format**: ${f.error}\n\n${FORMAT_GRAMMAR}`;
  const lines = [`\`${node.value}\`: ${describeFormat(f.format)}`];
  const rep = input.report;
  if (rep && key === 'weights') {
    const c = rep.report.formats.find((x) => canonicalFormat(x.weights) === canonicalFormat(node.value));
    if (c) {
      const all = rep.report.allQuantized[c.id];
      if (all) lines.push('', `Last analysis at ${c.id}: every layer quantized gives output SQNR ${db(all.sqnrDb)}${all.top1Agreement !== undefined ? `, top-1 agreement ${pct(all.top1Agreement)}` : ''}`);
      if (path[0] === 'layers') {
        const r = rep.byName.get(String(path[1]))?.formats[c.id];
        if (r) lines.push('', `This layer alone at ${c.id}: ${db(isolatedSqnr(r))}${r.weightSqnrDb !== undefined ? ` (weight SQNR ${db(r.weightSqnrDb)})` : ''}`);
      }
    }
  }
  return lines.join('\n');
}
