/**
 * The order of nodes appended to a model to read its tensors (Shape, ReduceMin/ReduceMax, a head Slice, ...).
 * ONNX Runtime runs a graph in the order of a reverse depth-first walk from its leaf nodes, starting with the leaf
 * listed last. Reading nodes appended in the model's own order would put the reader of the last tensor first: the whole
 * forward runs before any reader, and every activation stays alive to the end of the run (ViT-B/16's shape probe at batch
 * 1: +500 MB at its peak). Appended last tensor first, each reader runs as soon as its tensor exists.
 */
import { NodeProto } from './proto';

/** The readers of each tensor (in the model's order; each group's nodes in their own order), to append to the graph's nodes. */
export function readersInRunOrder(groups: readonly (readonly NodeProto[])[]): NodeProto[] {
  return groups.slice().reverse().flat();
}
