/** Reading what a job's parameters point at: the recipe (file, object or defaults) and the data source. */
import * as path from 'path';
import { checkRecipe, readRecipeFile } from '../../core/recipe-file';
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
