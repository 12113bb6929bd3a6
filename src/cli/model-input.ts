/** Loading the model and recipe a CLI command names, with clear errors. */
export { readRecipeFile, recipeDataPath } from '../core/recipe-file';
import { Graph } from '../core/onnx/graph';
import { loadModelFile, modelFileSize } from '../core/onnx/model-file';
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
  return { file, model, graph, fileSize: modelFileSize(file, model) };
}
