/** Reading recipe files (`*.qrecipe.json`, JSON with comments) and checking a recipe's shape; errors name the file. */
import * as fs from 'fs';
import * as path from 'path';
import { parse as parseJsonc, ParseError, printParseErrorCode } from 'jsonc-parser';
import { QuantLensError } from './errors';
import { RECIPE_VERSION, Recipe } from '../shared/recipe';

/** Reads and checks a recipe file. */
export function readRecipeFile(file: string): Recipe {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new QuantLensError('recipe-unreadable', code === 'ENOENT' ? 'the recipe file does not exist' : `the recipe file cannot be read (${code ?? e})`, file);
  }
  const errors: ParseError[] = [];
  const value = parseJsonc(text, errors, { allowTrailingComma: true });
  if (errors.length) {
    const e = errors[0];
    const line = text.slice(0, e.offset).split('\n').length;
    throw new QuantLensError('recipe-syntax', `invalid JSON at line ${line}: ${printParseErrorCode(e.error)}`, file);
  }
  return checkRecipe(value, file);
}

/** Checks an in-memory recipe's shape (version, defaults, layers) and fills the optional parts. */
export function checkRecipe(value: unknown, file?: string): Recipe {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new QuantLensError('recipe-shape', 'a recipe must be a JSON object', file);
  const r = value as Partial<Recipe>;
  if (r.version !== undefined && r.version !== RECIPE_VERSION) throw new QuantLensError('recipe-version', `recipe version ${r.version} is not supported (this QuantLens reads version ${RECIPE_VERSION})`, file);
  if (r.defaults !== undefined && (typeof r.defaults !== 'object' || r.defaults === null || Array.isArray(r.defaults))) throw new QuantLensError('recipe-shape', '"defaults" must be an object', file);
  if (r.layers !== undefined && (typeof r.layers !== 'object' || r.layers === null || Array.isArray(r.layers))) throw new QuantLensError('recipe-shape', '"layers" must be an object keyed by node name', file);
  for (const [k, v] of Object.entries(r.layers ?? {})) {
    if (v !== 'float' && (typeof v !== 'object' || v === null || Array.isArray(v))) throw new QuantLensError('recipe-shape', `layer '${k}': expected "float" or an object`, file);
  }
  return { version: RECIPE_VERSION, model: r.model ?? '', defaults: r.defaults ?? {}, layers: r.layers ?? {}, data: r.data, samples: r.samples, notes: r.notes };
}

/** A recipe's data folder resolved against the recipe file's folder. */
export function recipeDataPath(recipeFile: string, recipe: Recipe): string | undefined {
  return recipe.data ? path.resolve(path.dirname(recipeFile), recipe.data) : undefined;
}
