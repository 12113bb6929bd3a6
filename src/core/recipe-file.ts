/** Reading recipe files (`*.qrecipe.json`, JSON with comments) and checking a recipe's shape; errors name the file. */
import * as fs from 'fs';
import * as path from 'path';
import { parse as parseJsonc, ParseError, printParseErrorCode } from 'jsonc-parser';
import { QuantLensError } from './errors';
import { RECIPE_VERSION, Recipe } from '../shared/recipe';
import { checkAgainst, MAX_RECIPE_DEPTH, RecipeSchema } from '../shared/request-params';

/** Reads and checks a recipe file. */
export function readRecipeFile(file: string): Recipe {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new QuantLensError('recipe-unreadable', code === 'ENOENT' ? 'the recipe file does not exist' : `the recipe file cannot be read (${code ?? e})`, file);
  }
  const depth = textNestingDepth(text);
  if (depth > MAX_RECIPE_DEPTH) throw new QuantLensError('recipe-depth', `the recipe nests objects or arrays ${depth > 1000 ? 'more than 1000' : depth} levels deep; the depth limit is ${MAX_RECIPE_DEPTH}`, file);
  const errors: ParseError[] = [];
  const value = parseJsonc(text, errors, { allowTrailingComma: true });
  if (errors.length) {
    const e = errors[0];
    const line = text.slice(0, e.offset).split('\n').length;
    throw new QuantLensError('recipe-syntax', `invalid JSON at line ${line}: ${printParseErrorCode(e.error)}`, file);
  }
  return checkRecipe(value, file);
}

/** Checks an in-memory recipe against the shared schema (types, unknown fields, formats) and fills the optional parts. */
export function checkRecipe(value: unknown, file?: string): Recipe {
  const r = checkAgainst(RecipeSchema, value, '');
  if (!r.ok) {
    const where = r.field ? `${r.field}: ` : 'the recipe: ';
    const code = /version .* is not supported/.test(r.message) ? 'recipe-version' : /depth limit/.test(r.message) ? 'recipe-depth' : 'recipe-shape';
    throw new QuantLensError(code, `${where}${r.message}`, file);
  }
  const v = r.value;
  return { version: RECIPE_VERSION, model: v.model ?? '', defaults: v.defaults ?? {}, layers: v.layers ?? {}, data: v.data, samples: v.samples, notes: v.notes };
}

/** How deep a JSON text nests brackets (strings and comments skipped), counting up to 1001: checked before parsing. */
export function textNestingDepth(text: string): number {
  let depth = 0, max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') { for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++; }
    else if (c === '/' && text[i + 1] === '/') { while (i < text.length && text[i] !== '\n') i++; }
    else if (c === '/' && text[i + 1] === '*') { const e = text.indexOf('*/', i + 2); i = e < 0 ? text.length : e + 1; }
    else if (c === '{' || c === '[') { if (++depth > max) max = depth; if (max > 1000) return max; }
    else if (c === '}' || c === ']') depth--;
  }
  return max;
}

/** A recipe's data folder resolved against the recipe file's folder. */
export function recipeDataPath(recipeFile: string, recipe: Recipe): string | undefined {
  return recipe.data ? path.resolve(path.dirname(recipeFile), recipe.data) : undefined;
}
