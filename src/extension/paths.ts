/** Pure path helpers of the extension: recipe and output paths beside a model, command-argument shapes. No vscode import. */
import * as path from 'node:path';

/** `model.onnx` -> `model.qrecipe.json` beside it. */
export function recipePathFor(model: string): string {
  return stripOnnx(model) + '.qrecipe.json';
}

/** `model.onnx` -> `model.qdq.onnx` beside it (the export target). */
export function exportPathFor(model: string): string {
  return stripOnnx(model) + '.qdq.onnx';
}

/** `model.onnx` -> `model.qat.onnx` beside it (the QAT output). */
export function qatOutputPathFor(model: string): string {
  return stripOnnx(model) + '.qat.onnx';
}

function stripOnnx(p: string): string {
  return p.toLowerCase().endsWith('.onnx') ? p.slice(0, -5) : p;
}

/** True for paths of ONNX models. */
export function isModelPath(p: string): boolean {
  return p.toLowerCase().endsWith('.onnx');
}

/** True for paths of recipe files. */
export function isRecipePath(p: string): boolean {
  return p.toLowerCase().endsWith('.qrecipe.json');
}

/** The model a recipe names, resolved against the recipe's folder; undefined when the text has no `model`. */
export function modelFromRecipeText(recipePath: string, text: string): string | undefined {
  let parsed: unknown;
  try { parsed = JSON.parse(text); } catch { return undefined; }
  const m = (parsed as { model?: unknown } | null)?.model;
  if (typeof m !== 'string' || !m) return undefined;
  return path.resolve(path.dirname(recipePath), m);
}

/** A `{model, layer}` argument as code lenses and tree items pass it. */
export interface LayerRef { model: string; layer: string }

/** Reads a `{model, layer}` argument (model as a path or a `file:` URI string). */
export function asLayerRef(arg: unknown): LayerRef | undefined {
  if (!arg || typeof arg !== 'object') return undefined;
  const o = arg as { model?: unknown; layer?: unknown };
  if (typeof o.layer !== 'string') return undefined;
  const model = typeof o.model === 'string' ? o.model : (o.model as { fsPath?: unknown } | undefined)?.fsPath;
  if (typeof model !== 'string') return undefined;
  return { model: model.startsWith('file://') ? decodeURIComponent(model.slice(7)) : model, layer: o.layer };
}

/** A short, stable file name for a model's cached report in extension storage. */
export function reportCacheName(model: string): string {
  let h = 2166136261;
  for (let i = 0; i < model.length; i++) { h ^= model.charCodeAt(i); h = Math.imul(h, 16777619); }
  return `${path.basename(model).replace(/[^\w.-]/g, '_')}-${(h >>> 0).toString(16)}.report.json`;
}
