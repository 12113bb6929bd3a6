/** Loading the model and recipe a CLI command names, with clear errors. */
import * as fs from 'fs';
import * as path from 'path';
import { parse, ParseError, printParseErrorCode } from 'jsonc-parser';
import { Recipe, RECIPE_VERSION } from '../shared/recipe';
import { QuantLensError } from '../core/errors';
import { Graph } from '../core/onnx/graph';
import { loadModelFile } from '../core/onnx/model-file';
import { ModelProto } from '../core/onnx/proto';

/** A model ready for the commands: its proto, graph and file size. */
export interface LoadedModel {
  file: string;
  model: ModelProto;
  graph: Graph;
  fileSize: number;
}

/** Loads a model file, builds its graph and checks that every op is an ONNX op. */
export function loadModelForCli(file: string): LoadedModel {
  const model = loadModelFile(file);
  const graph = new Graph(model, file);
  graph.assertKnownOps();
  return { file, model, graph, fileSize: fs.statSync(file).size };
}

/** Reads a `*.qrecipe.json` file (JSON with comments); QuantLensError naming the file when it is not a recipe. */
export function readRecipeFile(file: string): Recipe {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new QuantLensError('recipe-unreadable', code === 'ENOENT' ? 'the recipe file does not exist' : `the recipe file cannot be read (${code ?? e})`, file);
  }
  const errors: ParseError[] = [];
  const value = parse(text, errors, { allowTrailingComma: true });
  if (errors.length) {
    const e = errors[0];
    const line = text.slice(0, e.offset).split('\n').length;
    throw new QuantLensError('recipe-syntax', `invalid JSON at line ${line}: ${printParseErrorCode(e.error)}`, file);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new QuantLensError('recipe-invalid', 'a recipe must be a JSON object', file);
  const r = value as Partial<Recipe>;
  if (r.version !== undefined && r.version !== RECIPE_VERSION) throw new QuantLensError('recipe-version', `recipe version ${r.version} is not supported (this QuantLens reads version ${RECIPE_VERSION})`, file);
  if (r.layers !== undefined && (typeof r.layers !== 'object' || Array.isArray(r.layers))) throw new QuantLensError('recipe-invalid', "'layers' must be an object keyed by node name", file);
  if (r.defaults !== undefined && (typeof r.defaults !== 'object' || Array.isArray(r.defaults))) throw new QuantLensError('recipe-invalid', "'defaults' must be an object", file);
  return { version: RECIPE_VERSION, model: r.model ?? '', data: r.data, samples: r.samples, defaults: r.defaults ?? {}, layers: r.layers ?? {}, notes: r.notes };
}

/** A recipe's data folder resolved against the recipe file's folder. */
export function recipeDataPath(recipeFile: string, recipe: Recipe): string | undefined {
  return recipe.data ? path.resolve(path.dirname(recipeFile), recipe.data) : undefined;
}
