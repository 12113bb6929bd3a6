/** Reading what a job's parameters point at: the recipe (file, object or defaults) and the data source. */
import * as fs from 'fs';
import * as path from 'path';
import { parse as parseJsonc, ParseError, printParseErrorCode } from 'jsonc-parser';
import { QuantLensError } from '../../core/errors';
import { openDataSource, DataSource, ModelInput } from '../../core/data';
import type { DataSpec as CoreDataSpec } from '../../core/data/open';
import type { DataSpec } from '../../shared/protocol';
import { RECIPE_VERSION, Recipe } from '../../shared/recipe';

/** A recipe with the file it came from (undefined for an inline or default recipe). */
export interface ResolvedRecipe {
  recipe: Recipe;
  file?: string;
}

/** Samples used when neither the request nor the recipe says how many. */
export const DEFAULT_SAMPLES = 32;

/** Reads a recipe file (JSON with comments allowed), checking its shape; errors name the file. */
export function readRecipeFile(file: string): Recipe {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new QuantLensError('recipe-unreadable', code === 'ENOENT' ? 'the recipe file does not exist' : `the recipe cannot be read (${code ?? e})`, file);
  }
  const errors: ParseError[] = [];
  const value = parseJsonc(text, errors, { allowTrailingComma: true });
  if (errors.length) {
    const e = errors[0];
    const line = text.slice(0, e.offset).split('\n').length;
    throw new QuantLensError('recipe-syntax', `line ${line}: ${printParseErrorCode(e.error)}`, file);
  }
  return checkRecipe(value, file);
}

/** Checks an in-memory recipe's shape (version, defaults, layers). */
export function checkRecipe(value: unknown, file?: string): Recipe {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new QuantLensError('recipe-shape', 'a recipe must be a JSON object', file);
  const r = value as Partial<Recipe>;
  if (r.version !== undefined && r.version !== RECIPE_VERSION) throw new QuantLensError('recipe-version', `recipe version ${r.version} is not supported (expected ${RECIPE_VERSION})`, file);
  if (r.defaults !== undefined && (typeof r.defaults !== 'object' || r.defaults === null)) throw new QuantLensError('recipe-shape', '"defaults" must be an object', file);
  if (r.layers !== undefined && (typeof r.layers !== 'object' || r.layers === null || Array.isArray(r.layers))) throw new QuantLensError('recipe-shape', '"layers" must be an object keyed by node name', file);
  for (const [k, v] of Object.entries(r.layers ?? {})) {
    if (v !== 'float' && (typeof v !== 'object' || v === null || Array.isArray(v))) throw new QuantLensError('recipe-shape', `layer '${k}': expected "float" or an object`, file);
  }
  return { version: RECIPE_VERSION, model: r.model ?? '', defaults: r.defaults ?? {}, layers: r.layers ?? {}, data: r.data, samples: r.samples, notes: r.notes };
}

/** The recipe a job uses: a file path, an inline recipe, or the defaults (W8A8 per-channel, min-max). */
export function resolveRecipe(recipe: string | Recipe | undefined): ResolvedRecipe {
  if (recipe === undefined) return { recipe: { version: RECIPE_VERSION, model: '', defaults: {}, layers: {} } };
  if (typeof recipe === 'string') {
    const file = path.resolve(recipe);
    return { recipe: readRecipeFile(file), file };
  }
  return { recipe: checkRecipe(recipe) };
}

/**
 * Opens the data a job uses: the request's spec, else the recipe's `data` folder, else synthetic samples
 * (`defaultSamples` of them, also for MNIST; `split` picks MNIST's training or test digits).
 */
export function openJobData(spec: DataSpec | undefined, inputs: readonly ModelInput[], recipe?: ResolvedRecipe, defaultSamples = DEFAULT_SAMPLES, split: 'train' | 'test' = 'test'): DataSource {
  let core: CoreDataSpec = { kind: 'synthetic' };
  let samples = spec?.samples ?? recipe?.recipe.samples;
  if (spec?.folder) core = path.resolve(spec.folder);
  else if (spec?.builtin === 'mnist') core = { kind: 'mnist', split };
  else if (recipe?.recipe.data) core = path.resolve(recipe.file ? path.dirname(recipe.file) : '.', recipe.recipe.data);
  if (samples === undefined && (typeof core !== 'string')) samples = defaultSamples;
  return openDataSource(core, inputs, { samples, labels: spec?.labels ? path.resolve(spec.labels) : undefined });
}
